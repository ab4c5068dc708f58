package cmd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeNodeProxy is an API server with control-plane nodes whose /var/log/
// is a directory served with http.FileServer through the node proxy, as
// the kubelet serves it. A node in down answers the proxy's 503.
func fakeNodeProxy(t *testing.T, roots map[string]string, down map[string]bool) (kubeconfig string, agents func() []string) {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.UserAgent()] = true
		mu.Unlock()
		if r.URL.Path == "/api/v1/nodes" {
			var items []map[string]any
			for name := range roots {
				items = append(items, map[string]any{"metadata": map[string]any{"name": name, "labels": map[string]string{"node-role.kubernetes.io/control-plane": ""}}})
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"kind": "NodeList", "apiVersion": "v1", "metadata": map[string]any{}, "items": items})
			return
		}
		rest, _ := strings.CutPrefix(r.URL.Path, "/api/v1/nodes/")
		name, _, _ := strings.Cut(rest, "/")
		if down[name] {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"error trying to reach service: dial tcp 10.213.0.2:10250: connect: connection refused","reason":"ServiceUnavailable","code":503}`)
			return
		}
		http.StripPrefix("/api/v1/nodes/"+name+"/proxy/logs/", http.FileServer(http.Dir(roots[name]))).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: me, user: {token: t}}]
contexts: [{name: fake, context: {cluster: fake, user: me}}]
current-context: fake
`, srv.URL)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for a := range seen {
			out = append(out, a)
		}
		return out
	}
}

// TestFromNodes reads the test log split over two nodes' rotated sets and
// checks top gives what -f gives over the same files, names every node and
// file in the summary, and reports a node that does not answer.
func TestFromNodes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	half := len(lines) / 2
	roots := map[string]string{"cp-1": t.TempDir(), "cp-2": t.TempDir(), "cp-3": t.TempDir()}
	write := func(node, name string, ls []string) string {
		p := filepath.Join(roots[node], "kubernetes", "audit", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Join(ls, "")), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	backup := write("cp-1", "audit-2026-11-24T10-00-00.000.log", lines[:half/2])
	live := write("cp-1", "audit.log", lines[half/2:half])
	other := write("cp-2", "audit.log", lines[half:])
	kubeconfig, agents := fakeNodeProxy(t, roots, map[string]bool{"cp-3": true})

	wantOut, _, err := runCmd(t, "", "top", "-o", "json", "--by", "user,verb", "--no-link", "-f", backup, "-f", live, "-f", other)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCmd(t, "", "top", "-o", "json", "--by", "user,verb", "--no-link", "--kubeconfig", kubeconfig, "--from", "nodes")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if out != wantOut {
		t.Errorf("--from nodes output differs from -f over the same files:\n%s\nwant:\n%s", out, wantOut)
	}
	for _, want := range []string{
		"warning: node/cp-3 not read: the kubelet did not answer through the API server's node proxy",
		"node/cp-1: 2 file(s), ",
		"  /var/log/kubernetes/audit/audit-2026-11-24T10-00-00.000.log: ",
		"  /var/log/kubernetes/audit/audit.log: ",
		"node/cp-2: 1 file(s), ",
		"from 3 inputs",
		", 1 of 3 nodes not read\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	for _, a := range agents() {
		if !strings.HasPrefix(a, "kubectl-audit/") || strings.Contains(a, "(") {
			t.Errorf("user agent %q, want kubectl-audit/<version>", a)
		}
	}

	// --strict fails on the node not read, after printing the output.
	out, _, err = runCmd(t, "", "top", "-o", "json", "--by", "user,verb", "--no-link", "--kubeconfig", kubeconfig, "--from", "nodes", "--strict")
	if ExitCode(err) != ExitSkipped || out != wantOut {
		t.Errorf("--strict: exit %d (%v), want %d with the output printed", ExitCode(err), err, ExitSkipped)
	}
	// By name, with -f beside it: both read.
	_, errOut, err = runCmd(t, "", "top", "--no-link", "--kubeconfig", kubeconfig, "--from", "node/cp-2", "-f", backup, "-q")
	if err != nil || errOut != "" {
		t.Errorf("--from node/cp-2 -f FILE -q: %v, stderr %q", err, errOut)
	}
}

func TestFromErrors(t *testing.T) {
	roots := map[string]string{"cp-1": t.TempDir()}
	kubeconfig, _ := fakeNodeProxy(t, roots, map[string]bool{"cp-1": true})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"top", "--from", "pods"}, `--from "pods": want nodes or node/NAME`},
		{[]string{"top", "-f", "testdata/audit.log", "--node-path", "x/"}, "--node-selector and --node-path need --from"},
		{[]string{"top", "--from", "node/cp-1", "--node-selector", "a=b"}, "--node-selector needs --from nodes"},
		{[]string{"top", "--kubeconfig", kubeconfig, "--from", "nodes"}, "node/cp-1: the kubelet did not answer"},
		{[]string{"top"}, "or read the control-plane nodes' with --from nodes"},
	} {
		_, _, err := runCmd(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
