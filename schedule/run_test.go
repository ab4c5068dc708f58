package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/notify"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

const errorRule = `
- id: server-error-burst
  title: 5xx bursts
  severity: high
  match: code >= 500
  group_by: [user]
  window: 1m
  when: count >= 3
  summary: "{{.user}} got {{.count}} errors"
`

// errorLines writes one 500 of user u per second from second from to to
// (relative to t0), and, to move the log's time on, one 200 per second.
func errorLines(u string, from, to int) []byte {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		ts := t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		fmt.Fprintf(&b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"%s-%06d","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods","user":{"username":"%s"},"responseStatus":{"code":500},"requestReceivedTimestamp":"%s","stageTimestamp":"%s"}`+"\n", u, i, u, ts, ts)
	}
	return b.Bytes()
}

func quietLines(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		ts := t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		fmt.Fprintf(&b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"ok-%06d","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods","user":{"username":"quiet"},"responseStatus":{"code":200},"requestReceivedTimestamp":"%s","stageTimestamp":"%s"}`+"\n", i, ts, ts)
	}
	return b.Bytes()
}

// hook records the idempotency keys it gets, failing while fail is set.
type hook struct {
	mu   sync.Mutex
	keys []string
	fail bool
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	h.keys = append(h.keys, r.Header.Get(notify.HeaderIdempotencyKey))
}

func (h *hook) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := h.keys
	h.keys = nil
	return k
}

type runEnv struct {
	t     *testing.T
	dir   string
	log   string
	store Store
	rs    []*rules.Rule
	sinks []notify.Sink
}

func newRunEnv(t *testing.T, url string) *runEnv {
	rs, errs := rules.ParseAndCompile("r.yaml", []byte(errorRule))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dir := t.TempDir()
	store, _ := ParseStore("file:"+filepath.Join(dir, "state.json"), nil)
	sink, err := notify.New(notify.Spec{Kind: notify.KindWebhook, Target: url}, notify.Options{Attempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return &runEnv{t: t, dir: dir, log: filepath.Join(dir, "audit.log"), store: store, rs: rs, sinks: []notify.Sink{sink}}
}

func (e *runEnv) run(ongoing bool) *Outcome {
	e.t.Helper()
	eng, err := detectors.New(e.rs, detectors.Options{Streaming: true})
	if err != nil {
		e.t.Fatal(err)
	}
	inputs, err := sources.ResolveInputs([]string{e.log}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := Run(context.Background(), Config{Store: e.store, Inputs: inputs, Engine: eng, Rules: e.rs, Sinks: e.sinks, Ongoing: ongoing,
		Now: func() time.Time { return t0.Add(24 * time.Hour) },
		Read: func(ctx context.Context, in []sources.Input, open map[string]int64) (*sources.Stats, error) {
			return sources.Read(ctx, sources.ReadOptions{Inputs: in, OpenRequests: open, KeepOpen: true}, eng.NewSink)
		}})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestRunReportsOnce: an incident found over several runs is sent once
// when it starts and once when it ends; a sink that fails keeps its
// reports for the next run, which sends them with the same keys; a run
// started while another holds the state does nothing.
func TestRunReportsOnce(t *testing.T) {
	h := &hook{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := newRunEnv(t, srv.URL)
	incident := ""
	for _, step := range []struct {
		name string
		log  []byte
		fail bool
		// keys the webhook must get (incident stands for the incident's id)
		want    []string
		failed  bool
		pending int
	}{
		{name: "errors start; their window is not closed yet", log: append(errorLines("bob", 0, 20), quietLines(20, 40)...)},
		{name: "the window closes: new", log: append(errorLines("bob", 60, 80), quietLines(80, 160)...), want: []string{"incident"}},
		{name: "the next window fires too: the same incident, not reported again", log: quietLines(160, 230)},
		{name: "the sink is down: the end waits", log: quietLines(230, 400), fail: true, failed: true, pending: 1},
		{name: "back: the end is sent", log: quietLines(400, 401), want: []string{"incident-ended"}},
		{name: "nothing new", log: nil},
	} {
		appendFile(t, e.log, step.log)
		h.fail = step.fail
		out := e.run(false)
		got := h.take()
		if incident == "" && len(got) > 0 {
			incident = got[0]
		}
		var want []string
		for _, w := range step.want {
			want = append(want, strings.Replace(w, "incident", incident, 1))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: webhook got %v, want %v (reports %d)", step.name, got, want, len(out.Reports))
		}
		if (len(out.Failed) > 0) != step.failed || len(out.State.Pending) != step.pending {
			t.Fatalf("%s: failed %v, pending %d; want failed=%v, %d pending", step.name, out.Failed, len(out.State.Pending), step.failed, step.pending)
		}
		if step.failed && !strings.Contains(out.Errs().Error(), "webhook=http://127.0.0.1") {
			t.Errorf("the error does not name the sink: %v", out.Errs())
		}
	}
	if len(incident) != 16 {
		t.Errorf("incident id %q, want a 16-digit fingerprint", incident)
	}

	unlock, err := e.store.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if out := e.run(false); !out.Busy || !strings.Contains(out.BusyMsg, "state.json.lock is locked") {
		t.Errorf("a run while another holds the lock: busy=%v %q", out.Busy, out.BusyMsg)
	}
}

// TestRunStateSurvivesJSON: what a run saves, loaded by the next run,
// gives the same reports as keeping it in memory would: the state file
// is the only thing runs share.
func TestRunStateSurvivesJSON(t *testing.T) {
	h := &hook{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := newRunEnv(t, srv.URL)
	appendFile(t, e.log, append(errorLines("bob", 0, 30), quietLines(30, 50)...))
	e.run(true)
	b, err := os.ReadFile(filepath.Join(e.dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.Engine.Groups() == 0 || len(st.Files) != 1 || st.Files[0].Offset != int64(len(errorLines("bob", 0, 30))+len(quietLines(30, 50))) {
		t.Fatalf("state after the first run: %d open groups, files %+v", st.Engine.Groups(), st.Files)
	}
	appendFile(t, e.log, append(errorLines("bob", 50, 70), quietLines(70, 300)...))
	out := e.run(true)
	if got := h.take(); len(got) != 2 || !strings.HasSuffix(got[1], "-ended") {
		t.Fatalf("reports %v, want the incident and its end", got)
	}
	if f := out.Reports[0].Finding; f.Count != 50 || f.Windows != 2 {
		t.Errorf("the incident counts %d errors in %d windows, want 50 in 2 (30 of them read by the first run)", f.Count, f.Windows)
	}
}
