package why

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// TestShapes: one object's calls are found whatever shape the log gives
// them (testdata/shapes.jsonl is written from the shapes real logs have;
// the Namespace case is the real recorded log): a Namespace's calls carry
// its own name as objectRef.namespace; old clusters served deployments
// under extensions; a custom resource's scope is learned from the log;
// calls at the same time keep the log's order, for any number of workers.
func TestShapes(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		typ       string
		ns, obj   string
		anyNS     bool
		withReads bool
		want      string // verbs in order
		wantNS    string
	}{
		{name: "namespace every call", file: "testdata/audit.log.gz", typ: "namespace", obj: "kube-system", withReads: true,
			want: "create=2 get=52"},
		{name: "legacy group by canonical name", file: "testdata/shapes.jsonl", typ: "deployment", ns: "demo", obj: "nginx",
			want: "create patch update delete", wantNS: "demo"},
		{name: "legacy group spelled", file: "testdata/shapes.jsonl", typ: "deployments.extensions", ns: "demo", obj: "nginx",
			want: "create patch update delete", wantNS: "demo"},
		{name: "legacy group with version", file: "testdata/shapes.jsonl", typ: "deployments.v1beta1.extensions", ns: "demo", obj: "nginx",
			want: "create patch update delete", wantNS: "demo"},
		{name: "cluster-scoped custom resource, scope learned", file: "testdata/shapes.jsonl", typ: "clusteroperators.config.openshift.io", obj: "dns", anyNS: true,
			want: "update patch", wantNS: ""},
		{name: "namespaced custom resource, scope learned", file: "testdata/shapes.jsonl", typ: "widgets.example.com", obj: "w", anyNS: true,
			want: "create", wantNS: "team-a"},
		{name: "equal timestamps in log order", file: "testdata/shapes.jsonl", typ: "cm", ns: "demo", obj: "cfg",
			want: "update patch delete", wantNS: "demo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustResource(t, tt.typ)
			ns := tt.ns
			if !res.Namespaced {
				ns = ""
			}
			opts := Options{Resource: res, Namespace: ns, Name: tt.obj, AnyNamespace: tt.anyNS, WithReads: tt.withReads}
			for _, workers := range []int{1, 3} {
				tl := timeline(t, tt.file, workers, opts)
				var verbs []string
				for _, e := range tl.Entries {
					verbs = append(verbs, e.Verb)
				}
				got := strings.Join(verbs, " ")
				if strings.Contains(tt.want, "=") {
					got = countVerbs(verbs)
				}
				if got != tt.want {
					t.Errorf("workers %d: verbs %q, want %q", workers, got, tt.want)
				}
				if tl.Object.Namespace != tt.wantNS {
					t.Errorf("workers %d: object namespace %q, want %q", workers, tl.Object.Namespace, tt.wantNS)
				}
			}
		})
	}
}

// countVerbs spells verbs as "verb=n ..." in sorted order.
func countVerbs(verbs []string) string {
	n := map[string]int{}
	for _, v := range verbs {
		n[v]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, n[k])
	}
	return strings.Join(parts, " ")
}
