package detectors_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/corpus"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// chainRun is one scheduled run's part of the log: what it found and what
// it leaves to the next run.
type chainRun struct {
	res  *detectors.Result
	snap *detectors.Snapshot
	open map[string]int64
	last time.Time
}

// runPiece reads data[from:to] (offsets of the whole log) as the next run
// of a chain, after prev.
func runPiece(t *testing.T, rs []*rules.Rule, data []byte, from, to int, prev chainRun, workers int) chainRun {
	t.Helper()
	eng, err := detectors.New(rs, detectors.Options{Streaming: true})
	if err != nil {
		t.Fatal(err)
	}
	if prev.snap != nil {
		// The snapshot goes through JSON, as it does through the state.
		b, err := json.Marshal(prev.snap)
		if err != nil {
			t.Fatal(err)
		}
		var snap detectors.Snapshot
		if err := json.Unmarshal(b, &snap); err != nil {
			t.Fatal(err)
		}
		if dropped, err := eng.Restore(&snap); err != nil || len(dropped) > 0 {
			t.Fatalf("restore: dropped %v, %v", dropped, err)
		}
	}
	in := sources.Input{Name: "audit.log", Start: int64(from), Seeked: true, Growing: true,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data[from:to])), nil }}
	st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: []sources.Input{in}, Workers: workers, ChunkSize: 64 << 10, OpenRequests: prev.open, KeepOpen: true}, eng.NewSink)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Inputs[0].End; got != int64(to) {
		t.Fatalf("run over [%d, %d): end %d", from, to, got)
	}
	last := prev.last
	if st.Inputs[0].Last.After(last) {
		last = st.Inputs[0].Last
	}
	res, snap := eng.Suspend(last)
	return chainRun{res: res, snap: snap, open: st.OpenRequests, last: last}
}

// incidentView is what must not depend on how the log was split.
type incidentView struct {
	Rule, Key, Fingerprint string
	Count                  int64
	First, Last            time.Time
	Evidence               []string
	Location               *detectors.Location
	Values                 map[string]any
}

// mergeRuns joins findings of consecutive windows of one rule and key
// found by different runs into one incident, as one run does: the first
// window's fingerprint and evidence, the counts summed (tumbling windows).
func mergeRuns(fs []detectors.Finding) []incidentView {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Rule != fs[j].Rule {
			return fs[i].Rule < fs[j].Rule
		}
		if a, b := fs[i].KeyString(), fs[j].KeyString(); a != b {
			return a < b
		}
		return fs[i].WindowStart.Before(*fs[j].WindowStart)
	})
	var out []incidentView
	var end time.Time
	for _, f := range fs {
		if n := len(out); n > 0 && out[n-1].Rule == f.Rule && out[n-1].Key == f.KeyString() && !f.WindowStart.After(end) {
			cur := &out[n-1]
			cur.Count += f.Count
			cur.Last = f.Last
			end = *f.WindowEnd
			continue
		}
		out = append(out, incidentView{Rule: f.Rule, Key: f.KeyString(), Fingerprint: f.Fingerprint, Count: f.Count,
			First: f.First, Last: f.Last, Evidence: f.Evidence, Location: f.Location})
		end = *f.WindowEnd
	}
	return out
}

func wholeView(fs []detectors.Finding) []incidentView {
	var out []incidentView
	for _, f := range fs {
		if f.WindowStart == nil {
			vals := map[string]any{}
			b, _ := json.Marshal(f.Values)
			_ = json.Unmarshal(b, &vals)
			out = append(out, incidentView{Rule: f.Rule, Key: f.KeyString(), Fingerprint: f.Fingerprint, Count: f.Count,
				First: f.First, Last: f.Last, Evidence: f.Evidence, Location: f.Location, Values: vals})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

func windowed(fs []detectors.Finding) []detectors.Finding {
	var out []detectors.Finding
	for _, f := range fs {
		if f.WindowStart != nil {
			out = append(out, f)
		}
	}
	return out
}

// TestSuspendRestoreEqualsOneRun cuts a generated log into runs at line
// boundaries and checks that the chain of suspended and restored runs
// finds what one run over the whole log finds: the same incidents (first
// window's fingerprint, evidence and place, counts, times) for windowed
// rules, and the same groups (counts, values) for whole-input rules.
func TestSuspendRestoreEqualsOneRun(t *testing.T) {
	var buf bytes.Buffer
	// 3 events/s: 12 MB spans about an hour, so 5m and 10m windows open
	// and close in every run.
	if _, err := corpus.Generate(&buf, corpus.Options{Size: 12 << 20, RPS: 3, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	rs, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	whole := runPiece(t, rs, data, 0, len(data), chainRun{}, 2)
	if len(windowed(whole.res.Findings)) == 0 || len(wholeView(whole.res.Findings)) == 0 {
		t.Fatalf("the corpus should fire windowed and whole-input rules: %d findings", len(whole.res.Findings))
	}
	if whole.snap.Groups() == 0 {
		t.Fatal("one run over the log leaves no window open: nothing to carry")
	}
	for _, tc := range []struct {
		name    string
		pieces  int
		workers int
	}{
		{"2 runs, 1 worker", 2, 1},
		{"5 runs, 2 workers", 5, 2},
		{"13 runs, 2 workers", 13, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cuts []int
			for k := 1; k < tc.pieces; k++ {
				c := len(data) * k / tc.pieces
				c += bytes.IndexByte(data[c:], '\n') + 1
				cuts = append(cuts, c)
			}
			cuts = append(cuts, len(data))
			var prev chainRun
			var found []detectors.Finding
			from := 0
			for _, to := range cuts {
				prev = runPiece(t, rs, data, from, to, prev, tc.workers)
				found = append(found, windowed(prev.res.Findings)...)
				from = to
			}
			if got, want := mergeRuns(found), mergeRuns(windowed(whole.res.Findings)); !reflect.DeepEqual(got, want) {
				t.Errorf("windowed incidents differ from one run's:\n%s", diffViews(got, want))
			}
			if got, want := wholeView(prev.res.Findings), wholeView(whole.res.Findings); !reflect.DeepEqual(got, want) {
				t.Errorf("whole-input findings of the last run differ from one run's:\n%s", diffViews(got, want))
			}
			if got, want := prev.snap.Groups(), whole.snap.Groups(); got != want {
				t.Errorf("the last run leaves %d groups open, one run %d", got, want)
			}
		})
	}
}

func diffViews(got, want []incidentView) string {
	var b bytes.Buffer
	g := map[string]incidentView{}
	for _, v := range got {
		g[v.Fingerprint] = v
	}
	w := map[string]incidentView{}
	for _, v := range want {
		w[v.Fingerprint] = v
	}
	for k, v := range w {
		if gv, ok := g[k]; !ok {
			fmt.Fprintf(&b, "missing %+v\n", v)
		} else if !reflect.DeepEqual(gv, v) {
			fmt.Fprintf(&b, "got  %+v\nwant %+v\n", gv, v)
		}
	}
	for k, v := range g {
		if _, ok := w[k]; !ok {
			fmt.Fprintf(&b, "extra %+v\n", v)
		}
	}
	return b.String()
}

// TestRestoreDropsChangedRules: a rule whose match changed between runs
// starts afresh (its groups counted another way); one whose summary
// changed keeps its windows.
func TestRestoreDropsChangedRules(t *testing.T) {
	const rule = `
- id: errors
  title: errors
  severity: low
  match: %s
  group_by: [user]
  window: 10m
  when: count >= 1
  summary: "%s"
`
	events := []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods","user":{"username":"u"},"responseStatus":{"code":500},"requestReceivedTimestamp":"2026-11-24T10:00:00Z","stageTimestamp":"2026-11-24T10:00:00Z"}` + "\n")
	compile := func(match, summary string) []*rules.Rule {
		rs, errs := rules.ParseAndCompile("r.yaml", fmt.Appendf(nil, rule, match, summary))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return rs
	}
	first := runPiece(t, compile("code >= 500", "{{.count}}"), events, 0, len(events), chainRun{}, 1)
	if first.snap.Groups() != 1 {
		t.Fatalf("open groups %d, want 1", first.snap.Groups())
	}
	for _, tc := range []struct {
		name, match, summary string
		dropped              bool
	}{
		{"summary changed", "code >= 500", "{{.count}} errors", false},
		{"match changed", "code >= 400", "{{.count}}", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng, err := detectors.New(compile(tc.match, tc.summary), detectors.Options{})
			if err != nil {
				t.Fatal(err)
			}
			dropped, err := eng.Restore(first.snap)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(dropped) == 1 && dropped[0] == "errors"; got != tc.dropped {
				t.Errorf("dropped %v, want dropped=%v", dropped, tc.dropped)
			}
			res, snap := eng.Suspend(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
			want := 1
			if tc.dropped {
				want = 0
			}
			if len(res.Findings) != want || snap.Groups() != 0 {
				t.Errorf("%d findings, %d groups still open; want %d findings, none open", len(res.Findings), snap.Groups(), want)
			}
		})
	}
}

// TestSequencerEventsNotLate: the reader delivers long-running requests
// (a watch, at its ResponseStarted) through its sequencer, behind the
// workers; a window the workers' events have passed must wait for them.
// One chunk of five minutes of gets holds two watches at 0:10 and 0:12:
// they count in their window, and nothing is late.
func TestSequencerEventsNotLate(t *testing.T) {
	const rule = `
- id: watchers
  title: watchers
  severity: low
  match: user == "w"
  group_by: [user]
  window: 1m
  when: count >= 1
  summary: "{{.user}} {{.count}}"
`
	rs, errs := rules.ParseAndCompile("r.yaml", []byte(rule))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var log bytes.Buffer
	for i := 0; i < 300; i++ {
		ts := start.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		if i == 10 || i == 12 {
			fmt.Fprintf(&log, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"watch-%d","stage":"ResponseStarted","verb":"watch","requestURI":"/api/v1/pods?watch=true","user":{"username":"w"},"objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"%s","stageTimestamp":"%s"}`+"\n", i, ts, ts)
		}
		fmt.Fprintf(&log, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"get-%d","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods","user":{"username":"w"},"responseStatus":{"code":200},"requestReceivedTimestamp":"%s","stageTimestamp":"%s"}`+"\n", i, ts, ts)
	}
	for _, workers := range []int{1, 2} {
		eng, err := detectors.New(rs, detectors.Options{Streaming: true})
		if err != nil {
			t.Fatal(err)
		}
		data := log.Bytes()
		in := sources.Input{Name: "audit.log", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
		// The default chunk (2 MiB) holds the whole log.
		if _, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: []sources.Input{in}, Workers: workers}, eng.NewSink); err != nil {
			t.Fatal(err)
		}
		res := eng.Finish()
		// Five windows of a minute, one incident: 300 gets and 2 watches.
		if len(res.Findings) != 1 || res.Findings[0].Count != 302 || len(res.Warnings) > 0 {
			t.Errorf("workers %d: findings %+v, warnings %v; want the watch counted, nothing late", workers, res.Findings, res.Warnings)
		}
	}
}
