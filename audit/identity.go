package audit

import "strings"

const (
	nodeUserPrefix = "system:node:"
	saUserPrefix   = "system:serviceaccount:"
	// ExtraNodeName is the bound service-account token's node, which
	// attributes DaemonSet pods' calls to their node.
	ExtraNodeName = "authentication.kubernetes.io/node-name"
)

// NodeName returns the node behind the request: system:node:<n>, else the
// bound-token node-name extra, else "".
func (e *Event) NodeName() string {
	if n, ok := strings.CutPrefix(e.User.Username, nodeUserPrefix); ok {
		return n
	}
	if !e.User.nodeRead {
		// Read once per event: the prefilter and several rules ask, and
		// user.extra is a span to search (unless the scan was eager).
		e.User.nodeName, e.User.nodeRead = e.User.Extra(ExtraNodeName), true
	}
	return e.User.nodeName
}

// ServiceAccount returns "namespace/name" for a service-account user, else "".
func (e *Event) ServiceAccount() string {
	return ServiceAccountOf(e.User.Username)
}

// ServiceAccountOf maps system:serviceaccount:<ns>:<name> to "ns/name".
func ServiceAccountOf(username string) string {
	rest, ok := strings.CutPrefix(username, saUserPrefix)
	if !ok {
		return ""
	}
	ns, name, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	return ns + "/" + name
}

// Decision is the authorization.k8s.io/decision annotation (allow, forbid).
func (e *Event) Decision() string { return e.Annotation("authorization.k8s.io/decision") }

// AppendServiceAccount appends ServiceAccount() to dst.
func (e *Event) AppendServiceAccount(dst []byte) []byte {
	rest, ok := strings.CutPrefix(e.User.Username, saUserPrefix)
	if !ok {
		return dst
	}
	ns, name, ok := strings.Cut(rest, ":")
	if !ok {
		return dst
	}
	dst = append(dst, ns...)
	dst = append(dst, '/')
	return append(dst, name...)
}

// AppendResourceKey appends ResourceKey() to dst without allocating.
func (e *Event) AppendResourceKey(dst []byte) []byte {
	r := e.ObjectRef
	if r.Resource == "" {
		p := e.RequestURI
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return append(dst, p...)
	}
	dst = append(dst, r.Resource...)
	if r.APIGroup != "" {
		dst = append(dst, '.')
		dst = append(dst, r.APIGroup...)
	}
	if r.Subresource != "" {
		dst = append(dst, '/')
		dst = append(dst, r.Subresource...)
	}
	return dst
}

// ResourceKey is group/resource/subresource in kubectl's style:
// "pods", "nodes/status", "deployments.apps", "leases.coordination.k8s.io".
// Non-resource requests give their path without the query.
func (e *Event) ResourceKey() string {
	r := e.ObjectRef
	if r.Resource == "" {
		p := e.RequestURI
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return p
	}
	k := r.Resource
	if r.APIGroup != "" {
		k += "." + r.APIGroup
	}
	if r.Subresource != "" {
		k += "/" + r.Subresource
	}
	return k
}
