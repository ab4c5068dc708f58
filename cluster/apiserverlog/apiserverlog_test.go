package apiserverlog

import (
	"strings"
	"testing"
	"time"
)

const sample = `I1125 05:42:34.800000   28714 httplog.go:135] "HTTP" verb="GET" URI="/api/v1/nodes" latency="1ms" userAgent="kubectl" audit-ID="ok-1" srcIP="127.0.0.1:1" resp=200
E1125 05:42:34.853778   28714 authentication.go:76] "Unable to authenticate the request" err="verifying certificate SN=1795585345974904105, SKID=, AKID=9C:1F failed: x509: certificate signed by unknown authority"
I1125 05:42:34.853937   28714 httplog.go:135] "HTTP" verb="GET" URI="/api/v1/nodes/worker-rogue?timeout=30s" latency="241.267µs" userAgent="kubelet/v1.37.2" contentType="" audit-ID="bc5414ec" srcIP="127.0.1.5:58693" resp=401
E1125 05:42:34.854030   28714 authentication.go:76] "Unable to authenticate the request" err="verifying certificate SN=1, SKID=, AKID=6C:7C failed: x509: certificate has expired or is not yet valid: current time 2026-11-25T05:42:34Z is after 2026-11-24T05:42:34Z"
I1125 05:42:34.854076   28714 httplog.go:135] "HTTP" verb="PATCH" URI="/api/v1/nodes/worker-expired-4/status" latency="74.14µs" userAgent="kubelet" audit-ID="15663c40" srcIP="127.0.1.4:55345" resp=401
E1125 05:42:35.100000   28714 authentication.go:76] "Unable to authenticate the request" err="invalid bearer token"
some other output
`

func TestReason(t *testing.T) {
	l, err := Parse(strings.NewReader(sample), "kube-apiserver.log")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	tests := []struct {
		auditID, stage, want, via string
	}{
		{"bc5414ec", "", "x509: certificate signed by unknown authority", "audit-ID"},
		{"15663c40", "", "x509: certificate has expired or is not yet valid: certificate not valid after 2026-11-24T05:42:34Z", "audit-ID"},
		{"no-http-line", "2026-11-25T05:42:35.101500Z", "invalid bearer token", "time"},
		{"too-far", "2026-11-25T05:42:35.200000Z", "", ""},
		{"unknown", "", "", ""},
	}
	for _, tt := range tests {
		got, via := l.Reason(tt.auditID, at(tt.stage))
		if got != tt.want || via != tt.via {
			t.Errorf("Reason(%s) = %q via %q, want %q via %q", tt.auditID, got, via, tt.want, tt.via)
		}
	}
	if l.Failures() != 3 || l.HTTPLines != 3 {
		t.Errorf("failures %d, HTTP lines %d", l.Failures(), l.HTTPLines)
	}
}

func TestNotAnApiserverLog(t *testing.T) {
	_, err := Parse(strings.NewReader("127.0.0.1 - - [24/Nov/2026] \"GET / HTTP/1.1\" 200\n"), "access.log")
	if err == nil || !strings.Contains(err.Error(), "access.log: not a kube-apiserver log") {
		t.Errorf("err = %v", err)
	}
}
