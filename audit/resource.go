package audit

import "strings"

// resourcePath is an objectRef read from a request's path: legacy lines
// (legacy.go) and GKE resourceNames (gke.go) have no objectRef of their own.
type resourcePath struct {
	group, version, namespace, resource, name, sub string
}

// resourceOf resolves a request URI's path as kube-apiserver does
// (RequestInfoFactory): /api/v1/… and /apis/GROUP/VERSION/…, then
// resourceIn. Discovery and non-resource paths (/healthz, /version,
// /apis) have none.
func resourceOf(uri string) (resourcePath, bool) {
	p, _, _ := strings.Cut(uri, "?")
	parts := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		return resourceIn("", parts[1], parts[2:])
	case len(parts) >= 3 && parts[0] == "apis":
		return resourceIn(parts[1], parts[2], parts[3:])
	}
	return resourcePath{}, false
}

// resourceIn resolves what follows a group and version in a request's
// path (or a GKE resourceName): an optional namespaces/NS, then
// resource, name and subresource. A Namespace's own calls (namespaces/NS,
// its status and finalize) have NS as their namespace too, as
// kube-apiserver's objectRef does.
func resourceIn(group, version string, parts []string) (resourcePath, bool) {
	r := resourcePath{group: group, version: version}
	if len(parts) > 0 && parts[0] == "watch" {
		parts = parts[1:] // the deprecated /watch/ prefix
	}
	if len(parts) == 0 || parts[0] == "" {
		return r, false
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		r.namespace = parts[1]
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	r.resource = parts[0]
	if len(parts) > 1 {
		r.name = parts[1]
	}
	if len(parts) > 2 {
		// RequestInfo's subresource is one segment; the rest (a proxy's
		// path) is not part of the objectRef.
		r.sub = parts[2]
	}
	return r, true
}
