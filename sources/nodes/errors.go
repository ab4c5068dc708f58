package nodes

import (
	"fmt"
	"strings"
)

// PermissionError says the user may not do what reading from nodes needs:
// "get" on "nodes/proxy" (each node), or "list" on "nodes" (to select them
// by label). Its message names the permission and the nodes and prints the
// one ClusterRole rule that grants it.
type PermissionError struct {
	// Nodes are the nodes refused; empty when the list of nodes was.
	Nodes    []string
	Verb     string
	Resource string
	// Message is the API server's own words.
	Message string
}

func (e *PermissionError) Error() string {
	var b strings.Builder
	if len(e.Nodes) > 0 {
		fmt.Fprintf(&b, "%s: ", nodeNames(e.Nodes))
	}
	fmt.Fprintf(&b, "forbidden: reading audit logs from nodes needs %q on %q (cluster-wide)", e.Verb, e.Resource)
	if e.Message != "" {
		fmt.Fprintf(&b, "; the API server said: %s", e.Message)
	}
	b.WriteString("\nthe ClusterRole rule that grants it:\n")
	b.WriteString(e.Rule())
	if e.Resource == "nodes" {
		b.WriteString("\n(or name the nodes with --from node/NAME, which needs no list)")
	}
	return b.String()
}

// Rule is the ClusterRole rule that grants the missing permission, as YAML.
func (e *PermissionError) Rule() string {
	return fmt.Sprintf("- apiGroups: [\"\"]\n  resources: [%q]\n  verbs: [%q]", e.Resource, e.Verb)
}

// NoAuditFilesError says a node holds no audit log where we looked. Listing
// is what its /var/log/ holds, so the user can point --node-path at it.
type NoAuditFilesError struct {
	Node     string
	Searched []string // /var/log/... directories or files looked at
	Listing  []string // entries of /var/log/, directories ending in "/"
}

func (e *NoAuditFilesError) Error() string {
	holds := "nothing"
	if len(e.Listing) > 0 {
		holds = strings.Join(e.Listing, " ")
	}
	return fmt.Sprintf("node/%s: no audit log in %s; its /var/log/ holds: %s; name the right one with --node-path DIR|FILE",
		e.Node, strings.Join(e.Searched, ", "), holds)
}

// UnreachableError says a node's kubelet did not answer through the API
// server's node proxy (refused, timed out, 5xx), after the retries.
type UnreachableError struct {
	Node string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("node/%s: the kubelet did not answer through the API server's node proxy: %v", e.Node, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// NoNodesError says no node matched: on a managed cluster the control
// plane is not a node at all, so the logs must come from elsewhere.
type NoNodesError struct {
	// Selector is the label selector used.
	Selector string
	// Default is true when Selector is the control-plane label (no
	// --node-selector given).
	Default bool
}

func (e *NoNodesError) Error() string {
	if !e.Default {
		return fmt.Sprintf("no nodes match --node-selector %q", e.Selector)
	}
	return fmt.Sprintf("no control-plane nodes (no node is labelled %s or %s): on a managed cluster (EKS, GKE, AKS) "+
		"the API servers run off the cluster's nodes and their audit logs are not on any node; read them where the provider "+
		"exports them, from a bucket (-f s3://BUCKET/PREFIX/) or the cloud's log service (--from cloudwatch://LOG-GROUP), "+
		"or pick nodes with --node-selector or --from node/NAME",
		ControlPlaneLabel, legacyControlPlaneLabel)
}

// nodeNames formats node names for messages.
func nodeNames(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "node/" + n
	}
	return strings.Join(out, ", ")
}
