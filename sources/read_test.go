package sources_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kubectl-audit/kubectl-audit/sources"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/corpus"
)

func readLines(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(b), []byte("\n"))
}

func joinLines(lines [][]byte) []byte {
	return append(bytes.Join(lines, []byte("\n")), '\n')
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func quoteJSON(b []byte) string {
	q, _ := json.Marshal(string(b))
	return string(q)
}

// collector records "auditID stage" for each event it gets.
type collector struct {
	mu   sync.Mutex
	seen []string
}

func (c *collector) newSink() audit.Sink {
	return audit.SinkFunc(func(e *audit.Event) {
		c.mu.Lock()
		c.seen = append(c.seen, e.AuditID[len(e.AuditID)-3:]+" "+e.Stage)
		c.mu.Unlock()
	})
}

func (c *collector) sorted() []string {
	sort.Strings(c.seen)
	return c.seen
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// want is what testdata/events.jsonl gives when each request counts once:
// the watch at its ResponseStarted (its first event; the ResponseComplete
// is dropped), the 401 (which kube-apiserver logs as ResponseStarted only),
// the exec that never completed (ResponseStarted), and the Panic.
var wantOnce = []string{
	"a01 ResponseComplete", "a02 ResponseStarted", "a03 ResponseStarted", "a04 ResponseComplete",
	"a05 ResponseComplete", "a06 ResponseStarted", "a07 ResponseComplete", "a08 ResponseComplete", "a09 Panic",
}

type tarMember struct {
	name string
	data []byte
	dir  bool
}

func TestReadShapes(t *testing.T) {
	lines := readLines(t)
	plain := joinLines(lines)
	var items []string
	for _, l := range lines {
		items = append(items, string(l))
	}
	eventList := []byte(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + strings.Join(items, ",") + "]}\n")
	prettyList, _ := json.MarshalIndent(json.RawMessage(eventList), "", "  ")
	var eks, eksBatch, aks, aksRecords, v1beta1 bytes.Buffer
	var logEvents, records []string
	for i, l := range lines {
		fmt.Fprintf(&eks, `{"timestamp":%d,"message":%s,"ingestionTime":1764000000000}`+"\n", 1764000000000+i, quoteJSON(l))
		logEvents = append(logEvents, fmt.Sprintf(`{"id":"%d","timestamp":1764000000000,"message":%s}`, i, quoteJSON(l)))
		rec := fmt.Sprintf(`{"category":"kube-audit","operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read","resourceId":"/SUBSCRIPTIONS/X/MANAGEDCLUSTERS/AKS1","time":"2026-11-24T10:00:00Z","properties":{"log":%s,"pod":"kube-apiserver-5d8f7c9b6-abcde","stream":"stdout","containerID":"c0ffee"}}`, quoteJSON(l))
		aks.WriteString(rec + "\n")
		records = append(records, rec)
		v1beta1.Write(bytes.Replace(l, []byte(`"apiVersion":"audit.k8s.io/v1"`), []byte(`"apiVersion":"audit.k8s.io/v1beta1"`), 1))
		v1beta1.WriteByte('\n')
	}
	eksBatch.WriteString(`{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/eks/prod/cluster","logStream":"kube-apiserver-audit-0f1e","subscriptionFilters":["all"],"logEvents":[` + strings.Join(logEvents, ",") + "]}\n")
	aksRecords.WriteString(`{"records":[` + strings.Join(records, ",") + "]}\n")
	// A node's container logs of an apiserver run with --audit-log-path=-:
	// CRI records (long lines split into partial records, the apiserver's
	// own log on stderr between them) and docker's json-file.
	var cri, docker bytes.Buffer
	for i, l := range lines {
		ts := fmt.Sprintf("2026-11-24T10:00:0%d.123456789Z", i)
		fmt.Fprintf(&cri, "%s stderr F I1124 10:00:00.000000 1 httplog.go:132] \"HTTP\" verb=\"GET\"\n", ts)
		for len(l) > 700 {
			fmt.Fprintf(&cri, "%s stdout P %s\n", ts, l[:700])
			l = l[700:]
		}
		fmt.Fprintf(&cri, "%s stdout F %s\n", ts, l)
		q, _ := json.Marshal(string(lines[i]) + "\n")
		fmt.Fprintf(&docker, `{"log":%s,"stream":"stdout","time":"%s"}`+"\n", q, ts)
	}
	// A support bundle: the log directory in a tar, a rotated file
	// compressed inside it, a directory entry, and a file without a final
	// newline.
	tarOf := func(members ...tarMember) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, m := range members {
			h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: tar.TypeReg}
			if m.dir {
				h = &tar.Header{Name: m.name, Mode: 0o755, Typeflag: tar.TypeDir}
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(m.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	bundle := tarOf(tarMember{name: "kube-apiserver/", dir: true},
		tarMember{name: "kube-apiserver/audit-2026-11-24T09-00-00.000.log", data: bytes.TrimSuffix(joinLines(lines[:4]), []byte("\n"))},
		tarMember{name: "kube-apiserver/audit.log.1.gz", data: gzipBytes(t, joinLines(lines[4:]))})
	crlf := bytes.ReplaceAll(plain, []byte("\n"), []byte("\r\n"))
	noFinalNewline := bytes.TrimSuffix(plain, []byte("\n"))
	withBlank := bytes.ReplaceAll(plain, []byte("\n"), []byte("\n\n  \n"))

	tests := []struct {
		name  string
		files map[string][]byte
		arg   string // -f value relative to the temp dir; "" = the only file
		stdin []byte
	}{
		{name: "plain", files: map[string][]byte{"audit.log": plain}},
		{name: "gzip", files: map[string][]byte{"audit.log.gz": gzipBytes(t, plain)}},
		{name: "gzip without .gz name", files: map[string][]byte{"audit.log": gzipBytes(t, plain)}},
		{name: "zstd", files: map[string][]byte{"audit.log.zst": zstdBytes(t, plain)}},
		{name: "stdin", stdin: plain, arg: "-"},
		{name: "gzip on stdin", stdin: gzipBytes(t, plain), arg: "-"},
		{name: "EventList line", files: map[string][]byte{"batch.json": eventList}},
		{name: "EventList pretty document", files: map[string][]byte{"batch.json": prettyList}},
		{name: "JSON array document", files: map[string][]byte{"events.json": []byte("[\n" + strings.Join(items, ",\n") + "\n]\n")}},
		{name: "EKS CloudWatch export", files: map[string][]byte{"eks.json": eks.Bytes()}},
		{name: "EKS subscription batch", files: map[string][]byte{"eks-batch.json.gz": gzipBytes(t, eksBatch.Bytes())}},
		{name: "AKS diagnostic records", files: map[string][]byte{"aks.json": aks.Bytes()}},
		{name: "AKS storage blob", files: map[string][]byte{"PT1H.json": aksRecords.Bytes()}},
		{name: "v1beta1", files: map[string][]byte{"audit.log": v1beta1.Bytes()}},
		{name: "CRI container log", files: map[string][]byte{"kube-apiserver-cp-1_kube-system_kube-apiserver-0a1b.log": cri.Bytes()}},
		{name: "CRI container log, gzip", files: map[string][]byte{"kube-apiserver.log.gz": gzipBytes(t, cri.Bytes())}},
		{name: "docker json-file log", files: map[string][]byte{"c0ffee-json.log": docker.Bytes()}},
		{name: "CRLF", files: map[string][]byte{"audit.log": crlf}},
		{name: "tar.gz of the log directory", files: map[string][]byte{"bundle.tar.gz": gzipBytes(t, bundle)}},
		{name: "tar", files: map[string][]byte{"bundle.tar": bundle}},
		{name: "no final newline", files: map[string][]byte{"audit.log": noFinalNewline}},
		{name: "blank lines", files: map[string][]byte{"audit.log": withBlank}},
		{name: "directory of a rotated set", arg: ".", files: map[string][]byte{
			"audit-2026-11-24T09-00-00.000.log.gz": gzipBytes(t, joinLines(lines[:3])),
			"audit-2026-11-24T09-30-00.000.log":    joinLines(lines[3:6]),
			"audit.log":                            joinLines(lines[6:]),
		}},
		{name: "glob", arg: "audit*", files: map[string][]byte{
			"audit.log.1.gz": gzipBytes(t, joinLines(lines[:5])),
			"audit.log":      joinLines(lines[5:]),
		}},
	}
	for _, tt := range tests {
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/workers=%d", tt.name, workers), func(t *testing.T) {
				dir := t.TempDir()
				var only string
				for name, data := range tt.files {
					only = writeFile(t, dir, name, data)
				}
				arg := only
				switch tt.arg {
				case "":
				case "-":
					arg = "-"
				default:
					arg = filepath.Join(dir, tt.arg)
				}
				inputs, err := sources.ResolveInputs([]string{arg}, bytes.NewReader(tt.stdin))
				if err != nil {
					t.Fatal(err)
				}
				var c collector
				st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: inputs, Workers: workers, ChunkSize: 2048}, c.newSink)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if got := c.sorted(); !equal(got, wantOnce) {
					t.Errorf("events:\n got %q\nwant %q", got, wantOnce)
				}
				if st.SkippedTotal() != 0 {
					t.Errorf("skipped %v, problems %v", st.Skipped, st.Problems)
				}
				if st.Events != 10 || st.Used != 9 || st.OtherStages != 1 {
					t.Errorf("stats: events %d used %d otherStages %d, want 10 9 1", st.Events, st.Used, st.OtherStages)
				}
			})
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRotatedOrder(t *testing.T) {
	dir := t.TempDir()
	names := []string{"audit.log", "audit-2026-11-24T10-00-00.000.log.gz", "audit-2026-11-23T10-00-00.000.log",
		"other.log", "audit.log.2.gz", "audit.log.1"}
	for _, n := range names {
		writeFile(t, dir, n, nil)
	}
	inputs, err := sources.ResolveInputs([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range inputs {
		got = append(got, filepath.Base(in.Name))
	}
	want := []string{"audit.log.2.gz", "audit.log.1", "audit-2026-11-23T10-00-00.000.log", "audit-2026-11-24T10-00-00.000.log.gz", "audit.log", "other.log"}
	if !equal(got, want) {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}
}

func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{filepath.Join(dir, "nope.log")}, "no such file or directory"},
		{"glob without match", []string{filepath.Join(dir, "*.gz")}, "no files match"},
		{"empty directory", []string{dir}, "directory holds no files"},
		{"stdin twice", []string{"-", "-"}, "more than once"},
		{"nothing", nil, "no input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sources.ResolveInputs(tt.args, strings.NewReader(""))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	lines := readLines(t)
	good := joinLines(lines)
	long := []byte(`{"kind":"Event","auditID":"x","stage":"ResponseComplete","pad":"` + strings.Repeat("a", 5000) + `"}`)
	truncated := gzipBytes(t, good)
	truncated = truncated[:len(truncated)*2/3]
	nginx := []byte(`127.0.0.1 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"` + "\n" +
		`127.0.0.1 - - [24/Nov/2026:10:00:01 +0000] "GET /favicon.ico HTTP/1.1" 404 153 "-" "curl/8.5.0"` + "\n")
	insert := func(at int, bad []byte) []byte {
		out := append([][]byte{}, lines[:at]...)
		out = append(out, bad)
		out = append(out, lines[at:]...)
		return joinLines(out)
	}
	tests := []struct {
		name      string
		data      []byte
		open      func() (io.ReadCloser, error)
		wantUsed  int64
		wantSkip  map[string]int64
		wantProb  string // substring of the first problem
		wantErr   string
		maxLine   int
		wantLines int64
	}{
		{name: "malformed line", data: insert(3, []byte(`{"kind":"Event","auditID":`)), wantUsed: 9,
			wantSkip: map[string]int64{audit.SkipMalformed: 1}, wantProb: ":4: malformed JSON"},
		{name: "non-audit JSON", data: insert(2, []byte(`{"level":"info","ts":"2026-11-24T10:00:00Z","msg":"hello"}`)), wantUsed: 9,
			wantSkip: map[string]int64{audit.SkipNotAudit: 1}, wantProb: ":3: not an audit event"},
		{name: "other kind", data: insert(0, []byte(`{"kind":"Pod","apiVersion":"v1","auditID":"x","stage":"ResponseComplete"}`)), wantUsed: 9,
			wantSkip: map[string]int64{audit.SkipNotAudit: 1}, wantProb: `:1: not an audit event: kind "Pod"`},
		{name: "line too long", data: insert(5, long), maxLine: 4096, wantUsed: 9,
			wantSkip: map[string]int64{audit.SkipTooLong: 1}, wantProb: ":6: line too long"},
		{name: "invalid UTF-8", data: insert(1, []byte("{\"kind\":\"Event\",\"auditID\":\"\xff\xfe\"}")), wantUsed: 9,
			wantSkip: map[string]int64{audit.SkipInvalidUTF8: 1}, wantProb: ":2: invalid UTF-8"},
		{name: "GKE LogEntry", data: insert(0, []byte(`{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"io.k8s.core.v1.pods.create"},"resource":{"type":"k8s_cluster"}}`)), wantUsed: 9,
			wantSkip: map[string]int64{audit.SkipGKE: 1}, wantProb: ":1: unusable GKE"},
		{name: "truncated gzip", data: truncated, wantSkip: map[string]int64{audit.SkipDamaged: 1}, wantProb: "truncated gzip stream"},
		{name: "unreadable", open: func() (io.ReadCloser, error) { return nil, errors.New("open audit.log: permission denied") },
			wantSkip: map[string]int64{audit.SkipUnreadable: 1}, wantProb: "permission denied", wantErr: "no input could be read"},
		{name: "nginx log", data: nginx, wantSkip: map[string]int64{audit.SkipMalformed: 2},
			wantErr: "audit.log: no audit events found (first line: malformed JSON"},
		{name: "empty file", data: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			open := tt.open
			if open == nil {
				open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
			}
			in := []sources.Input{{Name: "audit.log", Open: open}}
			for _, workers := range []int{1, 2} {
				var c collector
				st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: in, Workers: workers, MaxLineSize: tt.maxLine, ChunkSize: 1024}, c.newSink)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err = %v, want %q", err, tt.wantErr)
					}
				} else if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if tt.name == "truncated gzip" {
					if st.Used == 0 || st.Used >= 9 {
						t.Errorf("used %d events, want the ones before the damage", st.Used)
					}
				} else if st.Used != tt.wantUsed {
					t.Errorf("used %d, want %d", st.Used, tt.wantUsed)
				}
				for reason, n := range tt.wantSkip {
					if st.Skipped[reason] < n {
						t.Errorf("skipped[%q] = %d, want %d (all: %v)", reason, st.Skipped[reason], n, st.Skipped)
					}
				}
				if tt.wantProb != "" {
					if len(st.Problems) == 0 || !strings.Contains(st.Problems[0].String(), tt.wantProb) {
						t.Errorf("problems %v, want first to contain %q", st.Problems, tt.wantProb)
					}
				}
				if !strings.Contains(st.Summary(), "skipped") {
					t.Errorf("summary %q", st.Summary())
				}
			}
		})
	}
}

func TestStageOverrideAndTimeRange(t *testing.T) {
	in := []sources.Input{{Name: "audit.log", Open: func() (io.ReadCloser, error) {
		return os.Open("testdata/events.jsonl")
	}}}
	tests := []struct {
		name   string
		opts   sources.ReadOptions
		want   []string
		outOfR int64
	}{
		{name: "only ResponseStarted", opts: sources.ReadOptions{Stages: []string{audit.StageResponseStarted}},
			want: []string{"a02 ResponseStarted", "a03 ResponseStarted", "a06 ResponseStarted"}},
		{name: "all stages as they are", opts: sources.ReadOptions{Stages: []string{audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}},
			want: []string{"a01 ResponseComplete", "a02 ResponseComplete", "a02 ResponseStarted", "a03 ResponseStarted", "a04 ResponseComplete",
				"a05 ResponseComplete", "a06 ResponseStarted", "a07 ResponseComplete", "a08 ResponseComplete", "a09 Panic"}},
		{name: "since and until", opts: sources.ReadOptions{
			Since: time.Date(2026, 11, 24, 10, 0, 1, 0, time.UTC), Until: time.Date(2026, 11, 24, 10, 0, 4, 0, time.UTC)},
			want: []string{"a03 ResponseStarted", "a04 ResponseComplete", "a05 ResponseComplete", "a06 ResponseStarted"}, outOfR: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c collector
			tt.opts.Inputs = in
			st, err := sources.Read(context.Background(), tt.opts, c.newSink)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.sorted(); !equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
			if st.OutOfRange != tt.outOfR {
				t.Errorf("outOfRange %d, want %d", st.OutOfRange, tt.outOfR)
			}
		})
	}
}

// TestWorkersAgree checks that the number of workers (and chunk size)
// changes nothing: same events, same stage resolution, same problems.
func TestWorkersAgree(t *testing.T) {
	var buf bytes.Buffer
	if _, err := corpus.Generate(&buf, corpus.Options{Size: 3 << 20, Nodes: 50, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// Damage a few lines so problems are compared too.
	data = bytes.Replace(data, []byte(`"stage":"ResponseComplete"`), []byte(`"stage":"ResponseComplete",,`), 3)
	in := []sources.Input{{Name: "corpus.log", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}}
	run := func(workers, chunk int) (string, *sources.Stats) {
		var c collector
		st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: in, Workers: workers, ChunkSize: chunk}, func() audit.Sink {
			return audit.SinkFunc(func(e *audit.Event) {
				c.mu.Lock()
				c.seen = append(c.seen, e.AuditID+" "+e.Stage+" "+e.User.Username+" "+e.Received.String())
				c.mu.Unlock()
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(c.sorted(), "\n"), st
	}
	want, wantSt := run(1, 4<<20)
	if wantSt.Skipped[audit.SkipMalformed] != 3 || wantSt.OtherStages == 0 {
		t.Fatalf("corpus should have 3 malformed lines and watches: %v", wantSt.Summary())
	}
	for _, tc := range []struct{ workers, chunk int }{{2, 4 << 20}, {2, 64 << 10}, {4, 16 << 10}, {8, 4096}} {
		got, st := run(tc.workers, tc.chunk)
		if got != want {
			t.Errorf("workers=%d chunk=%d: events differ from 1 worker", tc.workers, tc.chunk)
		}
		if st.Used != wantSt.Used || st.OtherStages != wantSt.OtherStages || st.Lines != wantSt.Lines {
			t.Errorf("workers=%d chunk=%d: stats %s, want %s", tc.workers, tc.chunk, st.Summary(), wantSt.Summary())
		}
		if fmt.Sprint(st.Problems) != fmt.Sprint(wantSt.Problems) {
			t.Errorf("workers=%d chunk=%d: problems %v, want %v", tc.workers, tc.chunk, st.Problems, wantSt.Problems)
		}
	}
}

func TestEventView(t *testing.T) {
	lines := readLines(t)
	var got []string
	in := []sources.Input{{Name: "x", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(joinLines(lines))), nil }}}
	_, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: in, Workers: 1, Stages: []string{audit.StageResponseComplete}},
		func() audit.Sink {
			return audit.SinkFunc(func(e *audit.Event) {
				if e.AuditID[len(e.AuditID)-3:] != "a07" && e.AuditID[len(e.AuditID)-3:] != "a04" {
					return
				}
				got = append(got, fmt.Sprintf("user=%s imp=%s(%v) groups=%v ip=%s ips=%v res=%s ns=%s code=%d reason=%s latency=%s decision=%s etcd=%s node=%s sa=%s extra=%s lr=%v",
					e.User.Username, e.ImpersonatedUser.Username, e.HasImpersonation(), e.User.Groups, e.SourceIP(), e.SourceIPs, e.ResourceKey(),
					e.ObjectRef.Namespace, e.Code, e.Reason, e.Latency(), e.Decision(), e.Annotation("apiserver.latency.k8s.io/etcd"),
					e.NodeName(), e.ServiceAccount(), e.User.Extra("authentication.kubernetes.io/pod-name"), e.LongRunning()))
			})
		})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"user=system:serviceaccount:ingress:traefik imp=(false) groups=[system:serviceaccounts system:serviceaccounts:ingress system:authenticated] ip=127.0.3.1 ips=[127.0.3.1] res=secrets ns= code=403 reason=Forbidden latency=1ms decision=forbid etcd= node=node-2 sa=ingress/traefik extra=traefik-7d9f8b6c5-x2x9z lr=false",
		"user=alice imp=system:serviceaccount:default:deployer(true) groups=[devs system:authenticated] ip=10.0.0.5 ips=[10.0.0.5 127.0.0.1] res=deployments.apps ns=default code=200 reason= latency=734ms decision=allow etcd=701.2ms node= sa= extra= lr=false",
	}
	if !equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"2026-11-24T10:00:00.123456Z", "2026-11-24T10:00:00.123456Z"},
		{"2026-11-24T10:00:00Z", "2026-11-24T10:00:00Z"},
		{"2024-02-29T23:59:59.999999999Z", "2024-02-29T23:59:59.999999999Z"},
		{"1970-01-01T00:00:00.5Z", "1970-01-01T00:00:00.5Z"},
		{"2026-11-24T10:00:00.123+02:00", "2026-11-24T08:00:00.123Z"},
		{"garbage", "0001-01-01T00:00:00Z"},
		{"2026-13-24T10:00:00Z", "0001-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		got, _ := audit.ParseTime(tt.in)
		if s := got.Format(time.RFC3339Nano); s != tt.want {
			t.Errorf("ParseTime(%q) = %s, want %s", tt.in, s, tt.want)
		}
	}
}

func TestStreams(t *testing.T) {
	in := func(names ...string) []sources.Input {
		var out []sources.Input
		for _, n := range names {
			out = append(out, sources.Input{Name: n})
		}
		return out
	}
	tests := []struct {
		inputs  []sources.Input
		streams int
	}{
		{in("/var/log/audit.log"), 1},
		{in("/l/audit-2026-11-24T09-00-00.000.log.gz", "/l/audit-2026-11-24T10-00-00.000.log", "/l/audit.log"), 1},
		{in("/l/audit.log.2.gz", "/l/audit.log.1", "/l/audit.log"), 1},
		{in("/l/apiserver-1/audit.log", "/l/apiserver-2/audit.log"), 2},
		{in("/l/audit-1.log", "/l/audit-2.log"), 2},
		{in("-"), 1},
		{in("-", "/l/audit.log"), 2},
		{[]sources.Input{{Name: "s3://b/2026/11/24/10/a.gz", Stream: "s3://b"}, {Name: "s3://b/2026/11/24/11/b.gz", Stream: "s3://b"}}, 1},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := len(sources.Streams(tt.inputs)); got != tt.streams {
			t.Errorf("Streams(%v) = %d streams, want %d", tt.inputs, got, tt.streams)
		}
		if got, want := sources.TimeOrdered(tt.inputs), tt.streams > 0; got != want {
			t.Errorf("TimeOrdered(%v) = %v, want %v", tt.inputs, got, want)
		}
	}
}
