package cmd

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDetectAPIServerLog joins the real log's 401s to kube-apiserver's own
// log: by audit-ID (the -v=3 "HTTP" lines), and by time alone when the log
// has no HTTP lines (the default -v=2).
func TestDetectAPIServerLog(t *testing.T) {
	const audit, apiserver = "testdata/real/audit.log.gz", "testdata/real/kube-apiserver.log.gz"
	// The same log without its HTTP lines, as -v=2 writes it.
	f, err := os.Open(apiserver)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `] "HTTP" `) {
			b.WriteString(sc.Text() + "\n")
		}
	}
	v2 := filepath.Join(t.TempDir(), "kube-apiserver-v2.log")
	if err := os.WriteFile(v2, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, log string }{{"by audit-ID", apiserver}, {"by time", v2}} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runCmd(t, "", "detect", "-q", "-f", audit, "--apiserver-log", tc.log, "--rule", "failed-authentication")
			if err != nil {
				t.Fatalf("%v: %s", err, errOut)
			}
			if !strings.Contains(errOut, "60 of 60 failed authentications joined") {
				t.Errorf("stderr: %s", errOut)
			}
			golden(t, "detect-apiserver-log-"+strings.ReplaceAll(tc.name, " ", "-"), out)
		})
	}
	t.Run("not an apiserver log", func(t *testing.T) {
		_, _, err := runCmd(t, "", "detect", "-q", "-f", audit, "--apiserver-log", "testdata/audit.log")
		if err == nil || !strings.Contains(err.Error(), "testdata/audit.log: not a kube-apiserver log") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestDetectRBAC checks -o rbac on the real log: the ClusterRole and binding
// that would allow traefik's denied list of secrets.
func TestDetectRBAC(t *testing.T) {
	out, errOut, err := runCmd(t, "", "detect", "-q", "-f", "testdata/real/audit.log.gz", "-o", "rbac")
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	golden(t, "detect-rbac", out)
}
