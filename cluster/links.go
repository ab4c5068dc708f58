package cluster

import (
	"context"
	"strings"
)

// The finding keys and values LinksFor understands. A rule that wants its
// findings linked to live objects uses these names in group_by or values;
// rules/README.md lists them for rule authors.
const (
	KeySourceIP    = "sourceIP"    // → the Node with that InternalIP, or the Pod with that IP
	KeyUser        = "user"        // → the ServiceAccount (its pods and workload), or the Node of system:node:NAME
	KeyNode        = "node"        // → the Node
	KeyResourceKey = "resourceKey" // with KeyName (and KeyNamespace) → the object itself
	KeyName        = "name"
	KeyNamespace   = "namespace"
	ValueWebhooks  = "webhooks" // values: "configuration/webhook" → the MutatingWebhookConfiguration
)

// LinksFor looks up the live objects a finding's key and values name: the
// Node or Pod behind a source IP, the ServiceAccount (and its pods and
// workload) or Node behind a user, the object of an objectRef, the webhook
// configurations that mutated it. Duplicates are dropped; the order is the
// order above.
func (l *Linker) LinksFor(ctx context.Context, key map[string]string, values map[string]any) []Link {
	var links []Link
	if ip := key[KeySourceIP]; ip != "" {
		links = append(links, l.SourceIP(ctx, ip))
	}
	if u := key[KeyUser]; u != "" {
		links = append(links, l.User(ctx, u, "")...)
	}
	if n := key[KeyNode]; n != "" {
		links = append(links, l.Node(ctx, n))
	}
	if q, ok := ObjectQueryOf(key); ok {
		links = append(links, l.Object(ctx, q))
	}
	for _, w := range StringValues(values[ValueWebhooks]) {
		conf, hook, _ := strings.Cut(w, "/")
		links = append(links, l.Webhook(ctx, conf, hook))
	}
	return dedupeLinks(links)
}

// ObjectQueryOf reads an objectRef from a finding's key: resourceKey
// ("pods", "deployments.apps", "nodes/status") with namespace and name.
func ObjectQueryOf(key map[string]string) (ObjectQuery, bool) {
	rk, name := key[KeyResourceKey], key[KeyName]
	if rk == "" || name == "" || strings.HasPrefix(rk, "/") {
		return ObjectQuery{}, false
	}
	rk, _, _ = strings.Cut(rk, "/") // the object of a subresource call
	resource, group, _ := strings.Cut(rk, ".")
	return ObjectQuery{Group: group, Resource: resource, Namespace: key[KeyNamespace], Name: name}, true
}

func dedupeLinks(links []Link) []Link {
	seen := map[string]bool{}
	var out []Link
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
