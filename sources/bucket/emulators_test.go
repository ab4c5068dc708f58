package bucket

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The emulators are real servers started by the tests, once per package
// run, and stopped by TestMain. hack/emulators.sh installs the ones that
// are not on the machine; KUBECTL_AUDIT_SKIP_EMULATORS=1 skips their
// tests (saying so) instead of failing them.

const skipEnv = "KUBECTL_AUDIT_SKIP_EMULATORS"

var (
	emuMu      sync.Mutex
	emulators  = map[string]*emulator{}
	emuCleanup []func()
)

type emulator struct {
	addr string // host:port
	cmd  *exec.Cmd
	log  *syncBuffer
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mark returns the log's length, for since().
func (s *syncBuffer) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) since(mark int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()[mark:]
}

func TestMain(m *testing.M) {
	// No test may reach a cloud's metadata service or read the user's
	// cloud configuration.
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_REGION":                  "us-east-1",
	} {
		_ = os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "STORAGE_EMULATOR_HOST",
		"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN"} {
		_ = os.Unsetenv(k)
	}
	code := m.Run()
	if fileRoot != "" {
		_ = os.RemoveAll(fileRoot)
	}
	emuMu.Lock()
	for _, f := range emuCleanup {
		f()
	}
	emuMu.Unlock()
	os.Exit(code)
}

// find locates an emulator binary: the variable hack/emulators.sh prints,
// the version-keyed cache it installs into, or PATH.
func find(env, cacheGlob, path string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	if cacheGlob != "" {
		home, _ := os.UserHomeDir()
		cache := os.Getenv("KUBECTL_AUDIT_EMULATORS_CACHE")
		if cache == "" {
			cache = filepath.Join(home, ".cache", "kubectl-audit-emulators")
		}
		if m, _ := filepath.Glob(filepath.Join(cache, cacheGlob)); len(m) > 0 {
			return m[len(m)-1]
		}
	}
	if path != "" {
		if p, err := exec.LookPath(path); err == nil {
			return p
		}
	}
	return ""
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// start runs an emulator once per package run and waits until ready
// answers.
func start(t testing.TB, name, bin, install string, args func(addr, dir string) []string, env []string, ready func(addr string) bool) *emulator {
	t.Helper()
	emuMu.Lock()
	defer emuMu.Unlock()
	if e, ok := emulators[name]; ok {
		if e.err != nil {
			t.Fatal(e.err)
		}
		return e
	}
	if bin == "" {
		if os.Getenv(skipEnv) == "1" {
			t.Skipf("%s not installed: skipped because %s=1 (%s)", name, skipEnv, install)
		}
		t.Fatalf("%s not found: %s (or set %s=1 to skip the emulator tests)", name, install, skipEnv)
	}
	addr := freePort(t)
	dir, err := os.MkdirTemp("", "kubectl-audit-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	e := &emulator{addr: addr, log: &syncBuffer{}}
	e.cmd = exec.Command(bin, args(addr, dir)...)
	e.cmd.Env = append(os.Environ(), env...)
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	newProcessGroup(e.cmd)
	emulators[name] = e
	if err := e.cmd.Start(); err != nil {
		e.err = fmt.Errorf("starting %s: %w", name, err)
		t.Fatal(e.err)
	}
	proc := e.cmd.Process
	emuCleanup = append(emuCleanup, func() {
		signalGroup(proc, false)
		done := make(chan struct{})
		go func() { _ = e.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			signalGroup(proc, true)
			<-done
		}
		_ = os.RemoveAll(dir)
	})
	deadline := time.Now().Add(60 * time.Second)
	for !ready(addr) {
		if time.Now().After(deadline) {
			e.err = fmt.Errorf("%s did not answer on %s within 60s; its output:\n%s", name, addr, e.log.String())
			t.Fatal(e.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return e
}

func httpReady(path string) func(addr string) bool {
	return func(addr string) bool {
		c := http.Client{Timeout: time.Second}
		resp, err := c.Get("http://" + addr + path)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return true
	}
}

const motoInstall = "install moto with: pip install 'moto[server]' (or run hack/emulators.sh, which says so too)"

func moto(t testing.TB) *emulator {
	return start(t, "moto_server", find("KUBECTL_AUDIT_MOTO", "", "moto_server"), motoInstall,
		func(addr, _ string) []string {
			h, p, _ := net.SplitHostPort(addr)
			return []string{"-H", h, "-p", p}
		}, nil, httpReady("/moto-api/data.json"))
}

// The account Azurite serves, with its published development key.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

func azurite(t testing.TB) *emulator {
	return start(t, "azurite", find("KUBECTL_AUDIT_AZURITE", "azurite-*/node_modules/.bin/azurite-blob", "azurite-blob"),
		"run hack/emulators.sh (npm install azurite into ~/.cache/kubectl-audit-emulators)",
		func(addr, dir string) []string {
			h, p, _ := net.SplitHostPort(addr)
			return []string{"--blobHost", h, "--blobPort", p, "--location", dir, "--silent", "--skipApiVersionCheck", "--loose"}
		}, nil, httpReady("/"+azuriteAccount+"?comp=list"))
}

func fakeGCS(t testing.TB) *emulator {
	return start(t, "fake-gcs-server", find("KUBECTL_AUDIT_FAKE_GCS", "fake-gcs-server-*/fake-gcs-server", "fake-gcs-server"),
		"run hack/emulators.sh (go install github.com/fsouza/fake-gcs-server into ~/.cache/kubectl-audit-emulators)",
		func(addr, dir string) []string {
			h, p, _ := net.SplitHostPort(addr)
			return []string{"-scheme", "http", "-host", h, "-port", p, "-public-host", addr, "-backend", "memory", "-log-level", "warn"}
		}, nil, httpReady("/storage/v1/b"))
}

// faultProxy forwards to an emulator and cuts object downloads: the
// first cuts GETs (all of them when negative) stop after half the body,
// the connection closed as a network failure would.
type faultProxy struct {
	mu       sync.Mutex
	upstream string
	cuts     int
	cut      int // how many were cut
	isObject func(r *http.Request) bool
	srv      *http.Server
	addr     string
}

func newFaultProxy(t testing.TB, upstream string, isObject func(*http.Request) bool) *faultProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{upstream: upstream, isObject: isObject, addr: l.Addr().String()}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = p.srv.Shutdown(ctx)
	})
	return p
}

func (p *faultProxy) setCuts(n int) {
	p.mu.Lock()
	p.cuts, p.cut = n, 0
	p.mu.Unlock()
}

func (p *faultProxy) cutCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.upstream+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	out.ContentLength = r.ContentLength
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	cut := false
	if r.Method == http.MethodGet && p.isObject(r) && resp.StatusCode/100 == 2 && resp.ContentLength > 1 {
		p.mu.Lock()
		if p.cuts < 0 || p.cut < p.cuts {
			p.cut++
			cut = true
		}
		p.mu.Unlock()
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if !cut {
		_, _ = io.Copy(w, resp.Body)
		return
	}
	_, _ = io.CopyN(w, resp.Body, resp.ContentLength/2)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
		}
	}
}

// countLines counts the lines of s that contain every one of subs.
func countLines(s string, subs ...string) int {
	n := 0
	for line := range strings.SplitSeq(s, "\n") {
		ok := true
		for _, sub := range subs {
			if !strings.Contains(line, sub) {
				ok = false
				break
			}
		}
		if ok {
			n++
		}
	}
	return n
}
