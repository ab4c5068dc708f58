package apiserverlog

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// TestJoiner counts reasons per finding: by source IP and time range, over
// events split between two workers' sinks.
func TestJoiner(t *testing.T) {
	l, err := Parse(strings.NewReader(sample), "kube-apiserver.log")
	if err != nil {
		t.Fatal(err)
	}
	j := NewJoiner([]*Log{l})
	var inner int
	newSink := j.Wrap(func() audit.Sink { return audit.SinkFunc(func(*audit.Event) { inner++ }) })
	sinks := []audit.Sink{newSink(), newSink()}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	events := []struct {
		id, ip, received string
		code             int
	}{
		{"bc5414ec", "127.0.1.5", "2026-11-25T05:42:34.853Z", 401},
		{"15663c40", "127.0.1.4", "2026-11-25T05:42:34.854Z", 401},
		{"ok-1", "127.0.0.1", "2026-11-25T05:42:34.800Z", 200},
		{"no-reason", "127.0.1.4", "2026-11-25T05:43:34.800Z", 401},
	}
	for i, ev := range events {
		e := &audit.Event{AuditID: ev.id, SourceIPs: []string{ev.ip}, Code: ev.code, Received: at(ev.received), StageTime: at(ev.received)}
		sinks[i%2].Event(e)
	}
	if inner != len(events) {
		t.Errorf("inner sinks saw %d events, want %d", inner, len(events))
	}
	if found, total := j.Totals(); found != 2 || total != 3 {
		t.Errorf("Totals = %d, %d; want 2 of 3", found, total)
	}
	start, end := at("2026-11-25T05:42:00Z"), at("2026-11-25T05:42:59Z")
	tests := []struct {
		ip         string
		first, end time.Time
		want       string
	}{
		{"127.0.1.4", start, end, "x509: certificate has expired or is not yet valid: certificate not valid after 2026-11-24T05:42:34Z (1)"},
		{"127.0.1.5", start, end, "x509: certificate signed by unknown authority (1)"},
		{"127.0.1.4", end, end.Add(time.Hour), ""}, // a later finding of the same address
		{"", start, end, "x509: certificate has expired or is not yet valid: certificate not valid after 2026-11-24T05:42:34Z (1)|x509: certificate signed by unknown authority (1)"},
	}
	for _, tt := range tests {
		if got := strings.Join(j.Reasons(tt.ip, tt.first, tt.end), "|"); got != tt.want {
			t.Errorf("Reasons(%q, %v) = %q, want %q", tt.ip, tt.first, got, tt.want)
		}
	}
}
