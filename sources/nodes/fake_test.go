package nodes

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
)

// fakeNode is one node of fakeCluster: its /var/log/ is a directory served
// with http.FileServer, as the kubelet serves it.
type fakeNode struct {
	labels map[string]string
	root   string // its /var/log/
	// forbidden answers the API server's RBAC 403; down the proxy's 503
	// when the kubelet does not answer.
	forbidden, down bool
	// hook, when set, sees each request to /logs/ first: it answers it
	// itself (returning nil) or returns the writer FileServer is to use.
	hook func(w http.ResponseWriter, r *http.Request) http.ResponseWriter
}

// fakeCluster is an httptest API server: GET /api/v1/nodes (with a label
// selector) and the node proxy to each node's /logs/.
type fakeCluster struct {
	t     *testing.T
	srv   *httptest.Server
	nodes map[string]*fakeNode

	mu             sync.Mutex
	listForbidden  bool
	requests       []string // "METHOD path Range"
	userAgents     map[string]bool
	listSelections []string
}

func newFakeCluster(t *testing.T, nodes map[string]*fakeNode) *fakeCluster {
	fc := &fakeCluster{t: t, nodes: nodes, userAgents: map[string]bool{}}
	fc.srv = httptest.NewServer(http.HandlerFunc(fc.serve))
	t.Cleanup(fc.srv.Close)
	return fc
}

func (fc *fakeCluster) config() *rest.Config {
	return &rest.Config{Host: fc.srv.URL}
}

func (fc *fakeCluster) log() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]string(nil), fc.requests...)
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
}

func (fc *fakeCluster) serve(w http.ResponseWriter, r *http.Request) {
	fc.mu.Lock()
	fc.requests = append(fc.requests, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("Range")))
	fc.userAgents[r.UserAgent()] = true
	listForbidden := fc.listForbidden
	fc.mu.Unlock()

	if r.URL.Path == "/api/v1/nodes" {
		if listForbidden {
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
				`nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope`)
			return
		}
		sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
		if err != nil {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
			return
		}
		fc.mu.Lock()
		fc.listSelections = append(fc.listSelections, sel.String())
		fc.mu.Unlock()
		items := []any{}
		for name, n := range fc.nodes {
			if sel.Matches(labels.Set(n.labels)) {
				items = append(items, map[string]any{"metadata": metav1.ObjectMeta{Name: name, Labels: n.labels}})
			}
		}
		list := map[string]any{"kind": "NodeList", "apiVersion": "v1", "metadata": map[string]any{}, "items": items}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v1/nodes/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	name, rest, _ := strings.Cut(rest, "/")
	n := fc.nodes[name]
	switch {
	case n == nil:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("nodes %q not found", name))
		return
	case n.forbidden:
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden,
			fmt.Sprintf(`nodes %q is forbidden: User "alice" cannot get resource "nodes/proxy" in API group "" at the cluster scope`, name))
		return
	case n.down:
		writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
			"error trying to reach service: dial tcp 10.213.0.2:10250: connect: connection refused")
		return
	case !strings.HasPrefix(rest, "proxy/logs/"):
		http.NotFound(w, r)
		return
	case r.Method != http.MethodGet:
		// The kubelet's /logs/ answers GET only.
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if n.hook != nil {
		if w = n.hook(w, r); w == nil {
			return
		}
	}
	http.StripPrefix("/api/v1/nodes/"+name+"/proxy/logs/", http.FileServer(http.Dir(n.root))).ServeHTTP(w, r)
}

// cuttingWriter sends left body bytes, then closes the connection under
// the response, as a dropped network path would.
type cuttingWriter struct {
	http.ResponseWriter
	left int64
	cut  bool
}

func (c *cuttingWriter) Write(p []byte) (int, error) {
	if c.cut {
		return 0, net.ErrClosed
	}
	if int64(len(p)) <= c.left {
		c.left -= int64(len(p))
		return c.ResponseWriter.Write(p)
	}
	n, _ := c.ResponseWriter.Write(p[:c.left])
	c.left = 0
	c.cut = true
	c.ResponseWriter.(http.Flusher).Flush()
	conn, buf, err := c.ResponseWriter.(http.Hijacker).Hijack()
	if err == nil {
		_ = buf.Flush()
		_ = conn.Close()
	}
	return n, net.ErrClosed
}

// writeFiles creates files under root: path → content.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// logLines is n audit-log-like lines (content only matters byte for byte).
func logLines(seed string, n int) string {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	for i := range n {
		fmt.Fprintf(w, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"%s-%06d","stage":"ResponseComplete","verb":"get"}`+"\n", seed, i)
	}
	_ = w.Flush()
	return b.String()
}
