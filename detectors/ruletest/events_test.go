package ruletest

import (
	"strings"
	"testing"
	"time"
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
