package cmd

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/detectors"
)

// linkedResult is detect's result with each finding tied to the live
// objects behind it. Field names extend detectors.Result's.
type linkedResult struct {
	*detectors.Result
	Findings []linkedFinding `json:"findings"`
}

type linkedFinding struct {
	detectors.Finding
	Links []cluster.Link `json:"links,omitempty"`
	// LinkStatus says why a finding has no links ("not linked: no cluster").
	LinkStatus string `json:"linkStatus,omitempty"`
	// AuthenticationErrors are the reasons kube-apiserver logged for the
	// finding's 401s (--apiserver-log), with counts.
	AuthenticationErrors []string `json:"authenticationErrors,omitempty"`
}

// linkFindings looks up, for each finding, the live objects its key and
// values name: the Node or Pod behind a source IP, the ServiceAccount (and
// its pods and workload) or Node behind a user, the object of an objectRef,
// the webhook configurations that mutated it. The linker lists each
// resource type at most once per run.
func linkFindings(ctx context.Context, l *cluster.Linker, fs []detectors.Finding) []linkedFinding {
	out := make([]linkedFinding, len(fs))
	ok, why := false, "--no-link"
	if l != nil {
		ok, why = l.Available()
	}
	for i, f := range fs {
		out[i].Finding = f
		if l == nil {
			continue
		}
		if !ok {
			out[i].LinkStatus = "not linked: " + why
			continue
		}
		var links []cluster.Link
		if ip := f.Key["sourceIP"]; ip != "" {
			links = append(links, l.SourceIP(ctx, ip))
		}
		if u := f.Key["user"]; u != "" {
			links = append(links, l.User(ctx, u, "")...)
		}
		if n := f.Key["node"]; n != "" {
			links = append(links, l.Node(ctx, n))
		}
		if q, ok := objectQuery(f.Key); ok {
			links = append(links, l.Object(ctx, q))
		}
		for _, w := range stringValues(f.Values["webhooks"]) {
			conf, hook, _ := strings.Cut(w, "/")
			links = append(links, l.Webhook(ctx, conf, hook))
		}
		out[i].Links = dedupeLinks(links)
		if len(out[i].Links) == 0 {
			out[i].LinkStatus = "nothing to link"
		}
	}
	return out
}

// objectQuery reads an objectRef from a finding's key: resourceKey
// ("pods", "deployments.apps", "nodes/status") with namespace and name.
func objectQuery(key map[string]string) (cluster.ObjectQuery, bool) {
	rk, name := key["resourceKey"], key["name"]
	if rk == "" || name == "" || strings.HasPrefix(rk, "/") {
		return cluster.ObjectQuery{}, false
	}
	rk, _, _ = strings.Cut(rk, "/") // the object of a subresource call
	resource, group, _ := strings.Cut(rk, ".")
	return cluster.ObjectQuery{Group: group, Resource: resource, Namespace: key["namespace"], Name: name}, true
}

func stringValues(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		if x != "" {
			return []string{x}
		}
	}
	return nil
}

func dedupeLinks(links []cluster.Link) []cluster.Link {
	seen := map[string]bool{}
	var out []cluster.Link
	for _, l := range links {
		k := l.Kind + "/" + l.Namespace + "/" + l.Name
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, l)
	}
	return out
}

// printLinks writes the linked objects of each finding after the table.
func printLinks(w io.Writer, fs []linkedFinding) {
	var lines, auth []string
	notLinked := map[string]bool{}
	for _, f := range fs {
		for _, a := range f.AuthenticationErrors {
			auth = append(auth, fmt.Sprintf("  %s %s: %s", f.Rule, f.KeyString(), a))
		}
		if strings.HasPrefix(f.LinkStatus, "not linked") {
			notLinked[f.LinkStatus] = true
			continue
		}
		for _, l := range f.Links {
			lines = append(lines, fmt.Sprintf("  %s %s → %s", f.Rule, f.KeyString(), l.String()))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "LIVE OBJECTS")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
	if len(auth) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "WHY AUTHENTICATION FAILED (kube-apiserver log)")
		for _, l := range auth {
			fmt.Fprintln(w, l)
		}
	}
	var reasons []string
	for r := range notLinked {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "\nfindings %s\n", r)
	}
}
