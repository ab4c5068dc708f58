package audit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLegacyFormat: a line of --audit-log-format=legacy reads as the
// event it describes; lines that only look like one are not events.
func TestLegacyFormat(t *testing.T) {
	const base = `2026-11-24T10:00:00.5Z AUDIT: id="a-1" stage="ResponseComplete" ip="10.0.0.1" method="get" user="alice" groups="\"system:authenticated\",\"dev \\\"team\\\"\"" as="<self>" asgroups="<lookup>" user-agent="kubectl/v1.37.2" namespace="demo" uri="/api/v1/namespaces/demo/pods/web" response="200"`
	tests := []struct {
		name, line, want string
	}{
		{"get", base, `a-1 ResponseComplete get alice ["system:authenticated" "dev \"team\""] imp= [] ip=10.0.0.1 ua=kubectl/v1.37.2 ref=/v1/demo/pods/web/ code=200 t=2026-11-24T10:00:00.5Z`},
		{"impersonated, cluster scope", `2026-11-24T10:00:01+02:00 AUDIT: id="a-2" stage="ResponseComplete" ip="10.0.0.2" method="create" user="ci" groups="<none>" as="bob" asgroups="\"system:masters\"" user-agent="helm" namespace="<none>" uri="/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?fieldManager=helm" response="201"`,
			`a-2 ResponseComplete create ci [] imp=bob ["system:masters"] ip=10.0.0.2 ua=helm ref=rbac.authorization.k8s.io/v1//clusterrolebindings// code=201 t=2026-11-24T08:00:01Z`},
		{"anonymous, not a resource", `2026-11-24T10:00:02Z AUDIT: id="a-3" stage="RequestReceived" ip="<unknown>" method="get" user="<none>" groups="<none>" as="<self>" asgroups="<lookup>" user-agent="" namespace="<none>" uri="/healthz" response="<deferred>"`,
			`a-3 RequestReceived get  [] imp= [] ip= ua= ref=none code=0 t=2026-11-24T10:00:02Z`},
		{"subresource", `2026-11-24T10:00:03Z AUDIT: id="a-4" stage="ResponseComplete" ip="10.0.0.3" method="patch" user="system:node:n1" groups="\"system:nodes\"" as="<self>" asgroups="<lookup>" user-agent="kubelet" namespace="<none>" uri="/api/v1/nodes/n1/status?timeout=10s" response="200"`,
			`a-4 ResponseComplete patch system:node:n1 ["system:nodes"] imp= [] ip=10.0.0.3 ua=kubelet ref=/v1//nodes/n1/status code=200 t=2026-11-24T10:00:03Z`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			d := Decoder{Emit: func(e *Event) {
				ref := "none"
				if r := e.ObjectRef; r.Resource != "" {
					ref = strings.Join([]string{r.APIGroup, r.APIVersion, r.Namespace, r.Resource, r.Name, r.Subresource}, "/")
				}
				var imp []string
				imp = append(imp, e.ImpersonatedUser.Groups...)
				got = append(got, fmt.Sprintf("%s %s %s %s %q imp=%s %q ip=%s ua=%s ref=%s code=%d t=%s", e.AuditID, e.Stage, e.Verb, e.User.Username, e.User.Groups,
					e.ImpersonatedUser.Username, imp, e.SourceIP(), e.UserAgent, ref, e.Code, e.Received.UTC().Format(time.RFC3339Nano)))
				if e.HasLatency() {
					t.Errorf("a legacy line has no stage time, so no latency")
				}
			}}
			if n, err := d.Decode([]byte(tt.line), Position{}); n != 1 || err != nil {
				t.Fatalf("Decode = %d, %v", n, err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	for _, line := range []string{
		`not a time AUDIT: id="x" method="get"`,
		`2026-11-24T10:00:00Z AUDIT: id="x" method=get`,
		`2026-11-24T10:00:00Z AUDIT: method="get"`,
		`2026-11-24T10:00:00Z AUDIT: id="x" method="get" uri="/x`,
		`I1124 10:00:00.000000 1 audit.go:1] AUDIT: id="x" method="get"`,
	} {
		if _, ok := legacyJSON([]byte(line)); ok {
			t.Errorf("%q read as a legacy audit line", line)
		}
	}
}

// TestResourceOf resolves request URIs as kube-apiserver's RequestInfo does.
func TestResourceOf(t *testing.T) {
	tests := []struct {
		uri  string
		want string // group/version/namespace/resource/name/sub, or "none"
	}{
		{"/api/v1/pods", "/v1//pods//"},
		{"/api/v1/namespaces/demo/pods/web/log?container=x", "/v1/demo/pods/web/log"},
		{"/api/v1/namespaces/demo", "/v1/demo/namespaces/demo/"},
		{"/api/v1/namespaces/demo/finalize", "/v1/demo/namespaces/demo/finalize"},
		{"/api/v1/namespaces", "/v1//namespaces//"},
		{"/apis/apps/v1/namespaces/demo/deployments/web/scale", "apps/v1/demo/deployments/web/scale"},
		{"/apis/apps/v1/watch/namespaces/demo/deployments", "apps/v1/demo/deployments//"},
		{"/api/v1/namespaces/demo/services/web:80/proxy/metrics", "/v1/demo/services/web:80/proxy"},
		{"/api/v1/nodes/n1/proxy/stats/summary", "/v1//nodes/n1/proxy"},
		{"/apis/apps/v1", "none"},
		{"/apis", "none"},
		{"/healthz", "none"},
		{"/", "none"},
	}
	for _, tt := range tests {
		r, ok := resourceOf(tt.uri)
		got := "none"
		if ok {
			got = strings.Join([]string{r.group, r.version, r.namespace, r.resource, r.name, r.sub}, "/")
		}
		if got != tt.want {
			t.Errorf("resourceOf(%q) = %s, want %s", tt.uri, got, tt.want)
		}
	}
}

// TestGKEObjectRef: a GKE resourceName resolves as a request's path does,
// a Namespace's own calls included.
func TestGKEObjectRef(t *testing.T) {
	tests := []struct{ name, want string }{
		{"apps/v1/namespaces/shop/deployments/checkout/scale", `{"apiGroup":"apps","apiVersion":"v1","name":"checkout","namespace":"shop","resource":"deployments","subresource":"scale"}`},
		{"core/v1/pods", `{"apiVersion":"v1","resource":"pods"}`},
		{"core/v1/namespaces/shop", `{"apiVersion":"v1","name":"shop","namespace":"shop","resource":"namespaces"}`},
		{"core/v1/namespaces/shop/status", `{"apiVersion":"v1","name":"shop","namespace":"shop","resource":"namespaces","subresource":"status"}`},
		{"core/v1/nodes/n1/proxy/metrics", `{"apiVersion":"v1","name":"n1","resource":"nodes","subresource":"proxy"}`},
		{"core/v1", ""},
	}
	for _, tt := range tests {
		got, ok := gkeObjectRef(tt.name)
		if !ok {
			got = ""
		}
		if got != tt.want {
			t.Errorf("gkeObjectRef(%q) = %s, want %s", tt.name, got, tt.want)
		}
	}
}
