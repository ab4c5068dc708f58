package schedule

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/sources"
	"github.com/kubectl-audit/kubectl-audit/sources/bucket"
	"github.com/kubectl-audit/kubectl-audit/sources/nodes"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// lines makes audit events n..m-1, one per line, each its own request.
func lines(n, m int) []byte {
	var b bytes.Buffer
	for i := n; i < m; i++ {
		ts := t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		fmt.Fprintf(&b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-%06d","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods","user":{"username":"u"},"responseStatus":{"code":200},"requestReceivedTimestamp":"%s","stageTimestamp":"%s"}`+"\n", i, ts, ts)
	}
	return b.Bytes()
}

// ids collects the auditIDs read.
type ids struct {
	mu  sync.Mutex
	got []string
}

func (c *ids) sink() audit.Sink {
	return audit.SinkFunc(func(e *audit.Event) {
		c.mu.Lock()
		c.got = append(c.got, strings.Clone(e.AuditID))
		c.mu.Unlock()
	})
}

// readPlanned plans inputs against st, reads them, and returns the
// auditIDs read, in order, and the next state's files and objects.
func readPlanned(t *testing.T, st *State, inputs []sources.Input) ([]string, *State, *plan) {
	t.Helper()
	p, err := planInputs(st, inputs, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var c ids
	stats, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: p.inputs, Workers: 1}, c.sink)
	if err != nil && len(p.inputs) > 0 {
		t.Fatal(err)
	}
	pos := p.commit(stats)
	return c.got, &State{Version: StateVersion, Files: pos.files, Objects: pos.objects, LogStreams: pos.logStreams, Streams: pos.streams}, p
}

func idRange(n, m int) []string {
	var out []string
	for i := n; i < m; i++ {
		out = append(out, fmt.Sprintf("id-%06d", i))
	}
	return out
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
}

// TestFilesAcrossRotation: a directory as kube-apiserver rotates it
// (lumberjack renames audit.log to a timestamped backup and starts a new
// one, then gzips the backup) is read run after run with every event
// read exactly once.
func TestFilesAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "audit.log")
	backup := filepath.Join(dir, "audit-2026-11-24T10-10-00.000.log")
	st := &State{Version: StateVersion}
	next := 0
	steps := []struct {
		name string
		do   func()
		want []string // auditIDs read by the run after do
	}{
		{"first run reads all", func() { appendFile(t, live, lines(0, 50)); next = 50 }, idRange(0, 50)},
		{"nothing new", func() {}, nil},
		{"appended", func() { appendFile(t, live, lines(50, 80)); next = 80 }, idRange(50, 80)},
		{"an unfinished last line waits", func() { appendFile(t, live, lines(80, 81)[:60]) }, nil},
		{"its end comes", func() { appendFile(t, live, lines(80, 81)[60:]); next = 81 }, idRange(80, 81)},
		{"rotated: the backup's rest, then the new file", func() {
			appendFile(t, live, lines(81, 90))
			if err := os.Rename(live, backup); err != nil {
				t.Fatal(err)
			}
			appendFile(t, live, lines(90, 100))
			next = 100
		}, idRange(81, 100)},
		{"the backup gzip'd beside it (both there)", func() {
			b, _ := os.ReadFile(backup)
			if err := os.WriteFile(backup+".gz", gz(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"the plain backup removed", func() {
			if err := os.Remove(backup); err != nil {
				t.Fatal(err)
			}
			appendFile(t, live, lines(100, 110))
			next = 110
		}, idRange(100, 110)},
		{"truncated and rewritten (copytruncate)", func() {
			if err := os.WriteFile(live, lines(110, 115), 0o644); err != nil {
				t.Fatal(err)
			}
			next = 115
		}, idRange(110, 115)},
	}
	for _, step := range steps {
		step.do()
		inputs, err := sources.ResolveInputs([]string{dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, nst, p := readPlanned(t, st, inputs)
		st = nst
		if strings.Join(got, ",") != strings.Join(step.want, ",") {
			t.Fatalf("%s: read %v, want %v (notes %v)", step.name, got, step.want, p.notes)
		}
	}
	_ = next
	if len(st.Files) != 2 {
		t.Errorf("state files %+v, want the live file and the backup", st.Files)
	}
}

// nodeFile is a file on a node as the node proxy serves it, counting the
// requests made for it.
type nodeFile struct {
	data    []byte
	opens   int
	openAts []int64
}

func (n *nodeFile) file(node, path string) nodes.File {
	return nodes.File{Node: node, Path: path, Name: "node/" + node + ":" + path, Size: int64(len(n.data)),
		Open: func() (io.ReadCloser, error) {
			n.opens++
			return io.NopCloser(bytes.NewReader(n.data)), nil
		},
		OpenAt: func(off int64) (io.ReadCloser, error) {
			n.openAts = append(n.openAts, off)
			return io.NopCloser(bytes.NewReader(n.data[off:])), nil
		}}
}

func nodeInputs(fs ...nodes.File) []sources.Input {
	var out []sources.Input
	for _, f := range fs {
		out = append(out, sources.Input{Name: f.Name, Open: f.Open, Origin: f})
	}
	return out
}

// TestNodeFiles: a node's live file is read on with a Range request from
// where the last run stopped; once rotated it is found by its first bytes
// under its new name; a backup read to its end is not fetched again.
func TestNodeFiles(t *testing.T) {
	const livePath, backupPath = "/var/log/kubernetes/audit/audit.log", "/var/log/kubernetes/audit/audit-2026-11-24T10-10-00.000.log"
	liveF := &nodeFile{data: lines(0, 20)}
	st := &State{Version: StateVersion}
	got, st, _ := readPlanned(t, st, nodeInputs(liveF.file("cp-1", livePath)))
	if len(got) != 20 || liveF.opens < 1 {
		t.Fatalf("first run read %d events", len(got))
	}
	liveF.data = append(liveF.data, lines(20, 30)...)
	liveF.opens, liveF.openAts = 0, nil
	got, st, _ = readPlanned(t, st, nodeInputs(liveF.file("cp-1", livePath)))
	if strings.Join(got, ",") != strings.Join(idRange(20, 30), ",") || len(liveF.openAts) != 1 || liveF.openAts[0] != int64(len(lines(0, 20))) {
		t.Fatalf("second run read %v with Range requests from %v", got, liveF.openAts)
	}
	// Rotated: the old live file is now the backup (with 5 more events),
	// and a new live file starts.
	backupF := &nodeFile{data: append(append([]byte{}, liveF.data...), lines(30, 35)...)}
	newLive := &nodeFile{data: lines(35, 40)}
	got, st, _ = readPlanned(t, st, nodeInputs(backupF.file("cp-1", backupPath), newLive.file("cp-1", livePath)))
	if strings.Join(got, ",") != strings.Join(idRange(30, 40), ",") {
		t.Fatalf("after rotation read %v", got)
	}
	backupF.opens, backupF.openAts = 0, nil
	got, _, _ = readPlanned(t, st, nodeInputs(backupF.file("cp-1", backupPath), newLive.file("cp-1", livePath)))
	if len(got) != 0 || backupF.opens != 0 || len(backupF.openAts) != 0 {
		t.Errorf("nothing new: read %v; the backup opened %d times, Range requests %v (want none)", got, backupF.opens, backupF.openAts)
	}
}

// TestBucketObjects: an object read is not read again; one that grew (an
// append blob) is read from where the last run stopped.
func TestBucketObjects(t *testing.T) {
	obj := func(key, version string, data []byte) sources.Input {
		o := bucket.Object{Name: "azblob://logs/" + key, Key: key, Size: int64(len(data)), Version: version,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
		return sources.Input{Name: o.Name, Open: o.Open, Origin: o}
	}
	st := &State{Version: StateVersion}
	a := lines(0, 10)
	for _, step := range []struct {
		name   string
		inputs []sources.Input
		want   []string
	}{
		{"first", []sources.Input{obj("h=05/PT1H.json", "e1", a)}, idRange(0, 10)},
		{"unchanged", []sources.Input{obj("h=05/PT1H.json", "e1", a)}, nil},
		{"appended to", []sources.Input{obj("h=05/PT1H.json", "e2", append(append([]byte{}, a...), lines(10, 15)...))}, idRange(10, 15)},
		{"a new object", []sources.Input{obj("h=05/PT1H.json", "e2", append(append([]byte{}, a...), lines(10, 15)...)), obj("h=06/PT1H.json", "e3", lines(15, 20))}, idRange(15, 20)},
	} {
		got, nst, _ := readPlanned(t, st, step.inputs)
		st = nst
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(step.want, ",") {
			t.Fatalf("%s: read %v, want %v", step.name, got, step.want)
		}
	}
}

func TestThrough(t *testing.T) {
	for _, tc := range []struct {
		name    string
		streams map[string]time.Time
		want    time.Time
	}{
		{"none", nil, time.Unix(0, 0).UTC()},
		{"the earliest log", map[string]time.Time{"a": t0, "b": t0.Add(5 * time.Minute)}, t0},
		{"a log that stopped is left out", map[string]time.Time{"a": t0, "b": t0.Add(time.Hour)}, t0.Add(time.Hour)},
	} {
		if got := through(tc.streams); !got.Equal(tc.want) {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
