package ruletest

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

func TestEventsShortForms(t *testing.T) {
	items := []map[string]any{
		{"at": "1s", "repeat": 2, "every": "500ms", "user": "alice", "sourceIPs": "10.0.0.1", "verb": "get",
			"objectRef": map[string]any{"resource": "pods", "namespace": "demo", "name": "web"},
			"code":      403, "reason": "Forbidden", "decision": "forbid", "latency": "20ms"},
		{"verb": "create", "objectRef": map[string]any{"resource": "pods", "namespace": "demo", "name": "web", "subresource": "exec"}},
	}
	out, err := Events(items, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{
		`{"annotations":{"authorization.k8s.io/decision":"forbid"},"apiVersion":"audit.k8s.io/v1","auditID":"00000000-0000-4000-8000-000000000001","kind":"Event","level":"Metadata","objectRef":{"name":"web","namespace":"demo","resource":"pods"},"requestReceivedTimestamp":"2026-01-02T03:04:06.000000Z","requestURI":"/api/v1/namespaces/demo/pods/web","responseStatus":{"code":403,"metadata":{},"reason":"Forbidden"},"sourceIPs":["10.0.0.1"],"stage":"ResponseComplete","stageTimestamp":"2026-01-02T03:04:06.020000Z","user":{"username":"alice"},"verb":"get"}`,
		`{"annotations":{"authorization.k8s.io/decision":"forbid"},"apiVersion":"audit.k8s.io/v1","auditID":"00000000-0000-4000-8000-000000000002","kind":"Event","level":"Metadata","objectRef":{"name":"web","namespace":"demo","resource":"pods"},"requestReceivedTimestamp":"2026-01-02T03:04:06.500000Z","requestURI":"/api/v1/namespaces/demo/pods/web","responseStatus":{"code":403,"metadata":{},"reason":"Forbidden"},"sourceIPs":["10.0.0.1"],"stage":"ResponseComplete","stageTimestamp":"2026-01-02T03:04:06.520000Z","user":{"username":"alice"},"verb":"get"}`,
		// exec is long-running: ResponseStarted, then ResponseComplete.
		`{"apiVersion":"audit.k8s.io/v1","auditID":"00000000-0000-4000-8000-000000000003","kind":"Event","level":"Metadata","objectRef":{"name":"web","namespace":"demo","resource":"pods","subresource":"exec"},"requestReceivedTimestamp":"2026-01-02T03:04:05.000000Z","requestURI":"/api/v1/namespaces/demo/pods/web/exec","responseStatus":{"code":200,"metadata":{}},"stage":"ResponseStarted","stageTimestamp":"2026-01-02T03:04:05.000000Z","verb":"create"}`,
		`{"apiVersion":"audit.k8s.io/v1","auditID":"00000000-0000-4000-8000-000000000003","kind":"Event","level":"Metadata","objectRef":{"name":"web","namespace":"demo","resource":"pods","subresource":"exec"},"requestReceivedTimestamp":"2026-01-02T03:04:05.000000Z","requestURI":"/api/v1/namespaces/demo/pods/web/exec","responseStatus":{"code":200,"metadata":{}},"stage":"ResponseComplete","stageTimestamp":"2026-01-02T03:04:05.005000Z","verb":"create"}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
	}
}

func TestEventsErrors(t *testing.T) {
	for _, tc := range []struct {
		item map[string]any
		want string
	}{
		{map[string]any{"usr": "x"}, `events[0]: unknown field "usr"`},
		{map[string]any{"repeat": 0}, "events[0]: repeat must be a number from 1 to 100000"},
		{map[string]any{"every": "soon"}, `events[0]: every must be a duration like 1s, got "soon"`},
	} {
		if _, err := Events([]map[string]any{tc.item}, DefaultStart); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.item, err, tc.want)
		}
	}
}

// TestAuditFieldsAreV1Event: the members the catalog reads, with kind and
// apiVersion, are exactly those of an audit.k8s.io/v1 Event.
func TestAuditFieldsAreV1Event(t *testing.T) {
	want := []string{"annotations", "apiVersion", "auditID", "kind", "level", "objectRef", "requestObject",
		"requestReceivedTimestamp", "requestURI", "responseObject", "responseStatus", "sourceIPs", "stage",
		"stageTimestamp", "user", "userAgent", "verb", "impersonatedUser"}
	sort.Strings(want)
	var got []string
	for k := range auditFields {
		got = append(got, k)
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("auditFields = %v\nwant %v", got, want)
	}
}

// TestShortFormsReadBack: a short form is an event field by its catalog
// name, and the event it expands to reads the value back.
func TestShortFormsReadBack(t *testing.T) {
	values := map[string]any{"code": 418, "reason": "Teapot", "message": "short and stout", "decision": "forbid",
		"authzReason": `RBAC: allowed by ClusterRoleBinding "x"`, "latency": "250ms"}
	want := map[string]string{"latency": "0.25"}
	for k := range shortForms {
		switch k {
		case "at", "repeat", "every":
			continue
		}
		t.Run(k, func(t *testing.T) {
			if _, ok := audit.LookupField(k); !ok {
				t.Fatalf("short form %q is not an event field of the catalog", k)
			}
			v, ok := values[k]
			if !ok {
				t.Fatalf("no test value for short form %q", k)
			}
			out, err := Events([]map[string]any{{"verb": "get", k: v}}, DefaultStart)
			if err != nil {
				t.Fatal(err)
			}
			var e audit.Event
			if !e.Scan(bytes.TrimSpace(out)) {
				t.Fatalf("not an event: %s", out)
			}
			p, err := expr.Compile(k, expr.Env(audit.ExprEnv{}))
			if err != nil {
				t.Fatal(err)
			}
			env := audit.NewExprEnv()
			env.Set(&e)
			got, err := expr.Run(p, env)
			if err != nil {
				t.Fatal(err)
			}
			w, ok := want[k]
			if !ok {
				w = fmt.Sprint(v)
			}
			if fmt.Sprint(got) != w {
				t.Errorf("%s = %v, want %s (event %s)", k, got, w, out)
			}
		})
	}
}
