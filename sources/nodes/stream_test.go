package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStreamResume serves a file with http.FileServer behind connections
// that break, go silent or change under the reader, and checks what Open's
// reader returns: the same bytes as the file, or an error naming the node,
// the file and the byte.
func TestStreamResume(t *testing.T) {
	content := logLines("r", 12000) // ~1.3 MB
	size := int64(len(content))
	const path = "kubernetes/audit/audit.log"

	// perRequest builds a hook from a function of the request's number
	// (0-based) among the file's downloads.
	type hookFunc func(n int, root string, w http.ResponseWriter, r *http.Request) http.ResponseWriter
	tests := []struct {
		name string
		hook hookFunc
		opts Options
		// wantRanges are the Range headers of the downloads, in order (the
		// size probe's bytes=0-0 left out); nil: not checked.
		wantRanges []string
		wantErr    []string
	}{{
		name: "one cut: resumed from the byte it stopped at, less the overlap",
		hook: func(n int, _ string, w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
			if n == 0 {
				return &cuttingWriter{ResponseWriter: w, left: 300000}
			}
			return w
		},
		wantRanges: []string{"", fmt.Sprintf("bytes=%d-", 300000-overlap)},
	}, {
		name: "every connection cut after 64 KiB: progress keeps it going past the retry count",
		hook: func(_ int, _ string, w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
			return &cuttingWriter{ResponseWriter: w, left: 64 << 10}
		},
		opts: Options{Retries: 1},
	}, {
		name: "an API server error between cuts is retried with backoff",
		hook: func(n int, _ string, w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
			switch n {
			case 0:
				return &cuttingWriter{ResponseWriter: w, left: 100000}
			case 1, 2:
				writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "error trying to reach service: i/o timeout")
				return nil
			}
			return w
		},
		wantRanges: []string{"", "bytes=99488-", "bytes=99488-", "bytes=99488-"},
	}, {
		name: "a silent connection is dropped after the idle timeout and resumed",
		hook: func(n int, _ string, w http.ResponseWriter, r *http.Request) http.ResponseWriter {
			if n == 0 {
				_, _ = io.WriteString(w, content[:20000])
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return nil
			}
			return w
		},
		opts:       Options{IdleTimeout: 100 * time.Millisecond},
		wantRanges: []string{"", fmt.Sprintf("bytes=%d-", 20000-overlap)},
	}, {
		name: "the kubelet goes away for good: the error names node, file and byte",
		hook: func(n int, _ string, w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
			if n == 0 {
				return &cuttingWriter{ResponseWriter: w, left: 200000}
			}
			writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "error trying to reach service: connection refused")
			return nil
		},
		opts:    Options{Retries: 2},
		wantErr: []string{"node/cp-1: /var/log/kubernetes/audit/audit.log: connection lost at byte 200000 and 3 attempts to resume failed", "connection refused"},
	}, {
		name: "the file rotated between two requests: not spliced",
		hook: func(n int, root string, w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
			if n == 0 {
				return &cuttingWriter{ResponseWriter: w, left: 300000}
			}
			if n == 1 {
				// lumberjack renamed it and began a new one, which has grown
				// past the offset since.
				_ = os.WriteFile(filepath.Join(root, path), []byte(logLines("new", 12000)), 0o644)
			}
			return w
		},
		wantErr: []string{"node/cp-1: /var/log/kubernetes/audit/audit.log changed while being read (rotated or rewritten)"},
	}, {
		name: "the file is now shorter than what was read",
		hook: func(n int, root string, w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
			if n == 0 {
				return &cuttingWriter{ResponseWriter: w, left: 300000}
			}
			if n == 1 {
				_ = os.WriteFile(filepath.Join(root, path), []byte("short\n"), 0o644)
			}
			return w
		},
		wantErr: []string{"is now shorter than the 300000 bytes already read"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, map[string]string{path: content})
			var mu sync.Mutex
			var ranges []string
			downloads := 0
			node := &fakeNode{labels: cpLabels, root: root}
			node.hook = func(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
				if !strings.HasSuffix(r.URL.Path, "/audit.log") || r.Header.Get("Range") == "bytes=0-0" {
					return w
				}
				mu.Lock()
				n := downloads
				downloads++
				ranges = append(ranges, r.Header.Get("Range"))
				mu.Unlock()
				return tc.hook(n, root, w, r)
			}
			fc := newFakeCluster(t, map[string]*fakeNode{"cp-1": node})
			o := tc.opts
			o.Backoff = time.Millisecond
			files, _, err := Discover(context.Background(), fc.config(), o)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 || files[0].Size != size {
				t.Fatalf("files %+v, want one of %d bytes", files, size)
			}
			rc, err := files[0].Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			_ = rc.Close()
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("read %d bytes without error", len(got))
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q\nlacks %q", err, w)
					}
				}
				if !strings.HasPrefix(content, string(got)) {
					t.Errorf("the %d bytes returned before the error are not the file's first bytes", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != content {
				t.Fatalf("read %d bytes, not the file's %d", len(got), size)
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.wantRanges != nil && strings.Join(ranges, "|") != strings.Join(tc.wantRanges, "|") {
				t.Errorf("Range headers %q, want %q", ranges, tc.wantRanges)
			}
			if len(ranges) < 2 {
				t.Errorf("%d downloads: the test did not break the first", len(ranges))
			}
		})
	}
}

// TestStreamGzipRaw checks a gzip'd backup comes as it is on disk: its
// decompression is the reader's, and Range offsets count disk bytes.
func TestStreamGzipRaw(t *testing.T) {
	root := t.TempDir()
	raw := "\x1f\x8b\x08\x00" + strings.Repeat("z", 100000)
	writeFiles(t, root, map[string]string{"kubernetes/audit/audit-2026-11-24T10-00-00.000.log.gz": raw})
	first := true
	var mu sync.Mutex
	node := &fakeNode{labels: cpLabels, root: root, hook: func(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
		if got := r.Header.Get("Accept-Encoding"); got != "identity" {
			t.Errorf("Accept-Encoding %q, want identity", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(r.URL.Path, ".gz") && r.Header.Get("Range") != "bytes=0-0" && first {
			first = false
			return &cuttingWriter{ResponseWriter: w, left: 5000}
		}
		return w
	}}
	fc := newFakeCluster(t, map[string]*fakeNode{"cp-1": node})
	files, _, err := Discover(context.Background(), fc.config(), Options{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, files[0]); got != raw {
		t.Fatalf("read %d bytes, want the %d on disk", len(got), len(raw))
	}
}

// TestOpenUnreachable: a kubelet that stops answering after discovery
// makes Open fail with an UnreachableError once the retries are spent.
func TestOpenUnreachable(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"kubernetes/audit/audit.log": "x\n"})
	var mu sync.Mutex
	down := false
	node := &fakeNode{labels: cpLabels, root: root, hook: func(w http.ResponseWriter, _ *http.Request) http.ResponseWriter {
		mu.Lock()
		defer mu.Unlock()
		if down {
			writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "error trying to reach service: no route to host")
			return nil
		}
		return w
	}}
	fc := newFakeCluster(t, map[string]*fakeNode{"cp-1": node})
	files, _, err := Discover(context.Background(), fc.config(), Options{Backoff: time.Millisecond, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	down = true
	mu.Unlock()
	before := len(fc.log())
	_, err = files[0].Open()
	var ue *UnreachableError
	if !errors.As(err, &ue) || ue.Node != "cp-1" || !strings.Contains(err.Error(), "no route to host") {
		t.Fatalf("Open: %v, want an UnreachableError for cp-1", err)
	}
	if n := len(fc.log()) - before; n != 3 {
		t.Errorf("%d requests, want 3 (one and two retries)", n)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in           string
		first, total int64
		ok           bool
	}{
		{"bytes 0-0/1234", 0, 1234, true},
		{"bytes 100-199/*", 100, -1, true},
		{"bytes */1234", 0, 0, false},
		{"items 0-1/2", 0, 0, false},
		{"", 0, 0, false},
	} {
		first, total, ok := parseContentRange(tc.in)
		if first != tc.first || total != tc.total || ok != tc.ok {
			t.Errorf("%q: %d %d %v, want %d %d %v", tc.in, first, total, ok, tc.first, tc.total, tc.ok)
		}
	}
}
