package detectors_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/corpus"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/detectors/ruletest"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// run runs rules (YAML) over inline events (ruletest's short form, as
// YAML) with the given workers and options.
func run(t *testing.T, rulesYAML, eventsYAML string, workers int, opts detectors.Options) *detectors.Result {
	t.Helper()
	rs, errs := rules.ParseAndCompile("test.yaml", []byte(rulesYAML))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var tf ruletest.File
	tf.Tests = []ruletest.Test{}
	var items []map[string]any
	if err := yamlUnmarshal(eventsYAML, &items); err != nil {
		t.Fatal(err)
	}
	lines, err := ruletest.Events(items, ruletest.DefaultStart)
	if err != nil {
		t.Fatal(err)
	}
	return runLines(t, rs, lines, workers, opts)
}

func runLines(t *testing.T, rs []*rules.Rule, lines []byte, workers int, opts detectors.Options) *detectors.Result {
	t.Helper()
	eng, err := detectors.New(rs, opts)
	if err != nil {
		t.Fatal(err)
	}
	in := sources.Input{Name: "events", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(lines)), nil }}
	ro := sources.ReadOptions{Inputs: []sources.Input{in}, Workers: workers, ChunkSize: 4096}
	if _, err := sources.Read(context.Background(), ro, eng.NewSink); err != nil {
		t.Fatal(err)
	}
	return eng.Finish()
}

const countRule = `
- id: errors
  title: errors
  severity: low
  match: code >= 500
  group_by: [user]
  window: %s
  when: count >= 1
  summary: "{{.user}} {{.count}}"
`

func TestTumblingAndSlidingWindows(t *testing.T) {
	events := `
- {repeat: 6, every: 20s, user: alice, verb: get, objectRef: {resource: pods}, code: 500}
`
	// 6 events at 0s..100s: tumbling 1m windows hold 3 and 3, one incident.
	res := run(t, strings.Replace(countRule, "%s", "1m", 1), events, 1, detectors.Options{Streaming: true})
	if got := counts(res); !reflect.DeepEqual(got, []int64{6}) {
		t.Fatalf("tumbling counts = %v, want [6] (one incident of two windows)", got)
	}
	if f := res.Findings[0]; f.Windows != 2 || f.Peak == nil || f.Peak.Count != 3 || f.WindowEnd.Sub(*f.WindowStart) != 2*time.Minute {
		t.Errorf("tumbling incident: windows %d, peak %+v, span %v-%v", f.Windows, f.Peak, f.WindowStart, f.WindowEnd)
	}
	// Sliding 1m windows every 20s: 8 windows start from -40s to 100s; they
	// share events, so the incident's count is the peak window's.
	res = run(t, strings.Replace(countRule, "%s", "{size: 1m, slide: 20s}", 1), events, 1, detectors.Options{Streaming: true})
	if got := counts(res); !reflect.DeepEqual(got, []int64{3}) {
		t.Fatalf("sliding counts = %v, want [3]", got)
	}
	if f := res.Findings[0]; f.Windows != 8 || f.WindowEnd.Sub(*f.WindowStart) != time.Minute+140*time.Second {
		t.Errorf("sliding incident: windows %d, span %v-%v", f.Windows, f.WindowStart, f.WindowEnd)
	}
}

// TestIncidents: windows of one rule and group merge only when they are
// consecutive; a quiet window in between starts a new incident, and other
// groups are other incidents. The first incident's fingerprint is the same
// whether or not later windows joined it.
func TestIncidents(t *testing.T) {
	rule := strings.Replace(countRule, "%s", "1m", 1)
	first := `
- {repeat: 3, every: 20s, user: alice, verb: get, objectRef: {resource: pods}, code: 500}
`
	events := first + `
- {at: 60s, repeat: 3, every: 20s, user: alice, verb: get, objectRef: {resource: pods}, code: 500}
- {at: 61s, repeat: 1, user: bob, verb: get, objectRef: {resource: pods}, code: 500}
- {at: 300s, repeat: 2, every: 10s, user: alice, verb: get, objectRef: {resource: pods}, code: 500}
`
	for _, workers := range []int{1, 3} {
		res := run(t, rule, events, workers, detectors.Options{Streaming: true})
		var got []string
		for _, f := range res.Findings {
			got = append(got, fmt.Sprintf("%s count=%d windows=%d %s", f.Key["user"], f.Count, f.Windows, f.WindowStart.Format("15:04:05")))
		}
		want := []string{"alice count=2 windows=1 10:05:00", "alice count=6 windows=2 10:00:00", "bob count=1 windows=1 10:01:00"}
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("workers %d: incidents\n got %q\nwant %q", workers, got, want)
		}
		alone := run(t, rule, first, 1, detectors.Options{Streaming: true})
		var fp string
		for _, f := range res.Findings {
			if f.Key["user"] == "alice" && f.Windows == 2 {
				fp = f.Fingerprint
			}
		}
		if fp == "" || alone.Findings[0].Fingerprint != fp {
			t.Errorf("fingerprint %q changed when a later window joined (alone %q)", fp, alone.Findings[0].Fingerprint)
		}
	}
}

func counts(res *detectors.Result) []int64 {
	var out []int64
	for _, f := range res.Findings {
		out = append(out, f.Count)
	}
	return out
}

func TestEvidenceFingerprintAndAggregates(t *testing.T) {
	rule := `
- id: reads
  title: reads
  severity: medium
  match: verb == "get"
  group_by: [user]
  when: distinct(name) >= 3 && max(latency) > 0.5
  values:
    names: values(name)
    first: first(name)
    last: last(name)
    slowest: max(latency)
    avg: avg(latency)
  summary: "{{.user}} read {{join .names \",\"}}"
`
	events := `
- {at: 9s, user: bob, verb: get, objectRef: {resource: secrets, namespace: a, name: s9}, latency: 1s}
- {at: 1s, repeat: 8, every: 1s, user: bob, verb: get, objectRef: {resource: secrets, namespace: a, name: s1}}
- {at: 0s, user: bob, verb: get, objectRef: {resource: secrets, namespace: a, name: s0}}
- {at: 5s, user: alice, verb: get, objectRef: {resource: secrets, namespace: a, name: s0}}
`
	var prev *detectors.Result
	for _, workers := range []int{1, 3} {
		res := run(t, rule, events, workers, detectors.Options{})
		if len(res.Findings) != 1 {
			t.Fatalf("workers=%d: %d findings, want 1: %+v", workers, len(res.Findings), res.Findings)
		}
		f := res.Findings[0]
		if f.Count != 10 || f.Key["user"] != "bob" {
			t.Errorf("finding = %+v", f)
		}
		// The earliest five by (time, auditID): s0 at 0s, then s1 at 1s..4s.
		if len(f.Evidence) != detectors.MaxEvidence || f.Evidence[0] != "00000000-0000-4000-8000-000000000010" {
			t.Errorf("evidence = %v", f.Evidence)
		}
		if got := f.Values["names"]; !reflect.DeepEqual(got, []string{"s0", "s1", "s9"}) {
			t.Errorf("names = %v", got)
		}
		if f.Values["first"] != "s0" || f.Values["last"] != "s9" || f.Values["slowest"] != 1.0 {
			t.Errorf("values = %v", f.Values)
		}
		if f.Summary != "bob read s0,s1,s9" {
			t.Errorf("summary = %q", f.Summary)
		}
		if prev != nil && !reflect.DeepEqual(prev.Findings, res.Findings) {
			t.Errorf("1 and %d workers differ:\n%+v\n%+v", workers, prev.Findings, res.Findings)
		}
		prev = res
	}
}

func TestPeers(t *testing.T) {
	rule := `
- id: fast
  title: fast
  severity: medium
  match: node != ""
  group_by: [node]
  window: 5m
  when: peers.count >= 3 && count >= 2 * peers.median(count) && count == peers.max(count)
  values:
    p90: peers.p90(count)
  summary: "{{.node}}"
`
	events := `
- {repeat: 10, user: system:node:a, verb: patch, objectRef: {resource: nodes, name: a, subresource: status}}
- {repeat: 11, user: system:node:b, verb: patch, objectRef: {resource: nodes, name: b, subresource: status}}
- {repeat: 12, user: system:node:c, verb: patch, objectRef: {resource: nodes, name: c, subresource: status}}
- {repeat: 40, every: 100ms, user: system:node:d, verb: patch, objectRef: {resource: nodes, name: d, subresource: status}}
`
	res := run(t, rule, events, 2, detectors.Options{Streaming: true})
	if len(res.Findings) != 1 || res.Findings[0].Key["node"] != "d" || res.Findings[0].Values["p90"] != 40.0 {
		t.Fatalf("findings = %+v", res.Findings)
	}
}

func TestBlindnessAndGroupCap(t *testing.T) {
	rule := `
- id: privileged
  title: privileged
  severity: high
  needs: Request
  match: resource == "pods" && verb == "create" && get("requestObject.spec.hostNetwork") == true
  group_by: [user]
  summary: "{{.user}}"
- id: per-name
  title: per name
  severity: low
  match: verb == "get"
  group_by: [name]
  summary: "{{.name}}"
`
	events := `
- {repeat: 3, user: alice, verb: create, objectRef: {resource: pods, namespace: demo}}
- {user: alice, verb: get, objectRef: {resource: configmaps, namespace: demo, name: a}}
- {user: alice, verb: get, objectRef: {resource: configmaps, namespace: demo, name: b}}
- {user: alice, verb: get, objectRef: {resource: configmaps, namespace: demo, name: c}}
`
	res := run(t, rule, events, 1, detectors.Options{MaxGroups: 2})
	if len(res.Blind) != 1 || res.Blind[0].Message != "blind: pods is logged at Metadata (3 events); the rule needs Request" {
		t.Errorf("blind = %+v", res.Blind)
	}
	if len(res.Findings) != 2 {
		t.Errorf("findings = %+v, want 2 (the cap)", res.Findings)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "rule per-name: 1 events not counted: more than 2 groups were open at once") {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

// TestWorkersDeterministic runs every shipped rule over a generated
// corpus with 1 and 3 workers (small chunks, so the split differs) and
// with and without streaming: the findings must be the same.
func TestWorkersDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a corpus")
	}
	var buf bytes.Buffer
	if _, err := corpus.Generate(&buf, corpus.Options{Size: 8 << 20, Seed: 3, Nodes: 50}); err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, c := range []struct {
		workers   int
		streaming bool
		// partial hands windows still open over at this many groups
		// (0: the default).
		partial int
	}{{1, false, 0}, {1, true, 0}, {3, true, 0}, {2, false, 0}, {2, true, 1}, {3, true, 7}} {
		rs, err := builtin.Rules()
		if err != nil {
			t.Fatal(err)
		}
		restore := func() {}
		if c.partial > 0 {
			restore = detectors.SetPartialGroups(c.partial)
		}
		res := runLines(t, rs, buf.Bytes(), c.workers, detectors.Options{Streaming: c.streaming})
		restore()
		if len(res.Findings) == 0 {
			t.Fatal("no findings on the corpus: the test would prove nothing")
		}
		got, _ := json.MarshalIndent(res, "", " ")
		if want == nil {
			want = got
			continue
		}
		if !bytes.Equal(got, want) {
			if d := os.Getenv("DETECT_DIFF_DIR"); d != "" {
				os.WriteFile(filepath.Join(d, "want.json"), want, 0o644)
				os.WriteFile(filepath.Join(d, "got.json"), got, 0o644)
			}
			t.Errorf("workers=%d streaming=%v partial=%d: results differ from 1 worker", c.workers, c.streaming, c.partial)
		}
	}
}

// FuzzShippedRules: no input may crash the engine running the shipped
// rules.
func FuzzShippedRules(f *testing.F) {
	f.Add([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a","stage":"ResponseStarted","verb":"create","user":{"username":"system:node:x","extra":{"authentication.kubernetes.io/node-name":["x"]}},"sourceIPs":["10.0.0.1"],"objectRef":{"resource":"pods","namespace":"d","subresource":"exec"},"responseStatus":{"code":101},"requestReceivedTimestamp":"2026-11-24T10:00:00.000000Z","stageTimestamp":"2026-11-24T10:00:00.000000Z","annotations":{"authorization.k8s.io/decision":"allow","mutation.webhook.admission.k8s.io/round_0_index_0":"{\"mutated\":true}"},"requestObject":{"spec":{"containers":[{"securityContext":{"privileged":true}}],"volumes":[{"hostPath":{"path":"/"}}]}}}`))
	f.Add([]byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"b","stage":"ResponseComplete","verb":"patch","user":{"username":"system:serviceaccount:kube-system:generic-garbage-collector"},"objectRef":{"resource":"pods","namespace":"l","name":"p"},"responseStatus":{"code":422},"requestURI":"/api/v1/pods?limit=%zz&command=a"}`))
	rs, err := builtin.Rules()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		eng, err := detectors.New(rs, detectors.Options{Streaming: true})
		if err != nil {
			t.Fatal(err)
		}
		in := sources.Input{Name: "fuzz", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
		sources.Read(context.Background(), sources.ReadOptions{Inputs: []sources.Input{in}, Workers: 1, ChunkSize: 1 << 16, MaxLineSize: 1 << 20}, eng.NewSink)
		eng.Finish()
	})
}

// TestExpressionErrorsReported: a match, a group_by and an aggregate
// argument that fail at run time are counted per rule and reported with
// the first message, never dropped silently.
func TestExpressionErrorsReported(t *testing.T) {
	rule := `
- id: bad-match
  title: bad match
  severity: low
  match: verb == "create" && get("requestObject.spec.replicas") > 2
  summary: "{{.count}}"
- id: bad-group
  title: bad group
  severity: low
  match: verb == "create"
  group_by:
    - replicas: string(int(get("requestObject.spec.replicas")))
  summary: "{{.count}}"
- id: bad-agg
  title: bad agg
  severity: low
  match: verb == "create"
  values:
    replicas: max(float(get("requestObject.spec.replicas")))
  summary: "{{.count}}"
`
	events := `
- {repeat: 3, user: alice, verb: create, objectRef: {resource: deployments, apiGroup: apps, namespace: demo}}
`
	res := run(t, rule, events, 2, detectors.Options{})
	want := []string{
		"rule bad-match: match failed on 3 events, which the rule did not see (first: invalid operation: <nil> > int (1:56))",
		"rule bad-group: group_by failed on 3 events, which were not counted (first: ",
		"rule bad-agg: an aggregate's argument failed on 3 events, counted as no value (first: invalid operation: float(<nil>) (1:1))",
	}
	if len(res.Warnings) != len(want) {
		t.Fatalf("warnings = %q, want %d", res.Warnings, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(res.Warnings[i], w) {
			t.Errorf("warning %d = %q, want prefix %q", i, res.Warnings[i], w)
		}
	}
}

// TestEmptyValuesInSummaries: a summary whose values are empty reads
// without "()" or a trailing colon.
func TestEmptyValuesInSummaries(t *testing.T) {
	rule := `
- id: fails
  title: fails
  severity: low
  match: code >= 500
  group_by: [user, userAgent]
  values:
    message: last(message)
  summary: "{{.user}} ({{.userAgent}}) failed {{.count}} times: {{.message}}"
`
	res := run(t, rule, "- {repeat: 2, user: alice, verb: get, objectRef: {resource: pods}, code: 500}\n", 1, detectors.Options{})
	if len(res.Findings) != 1 || res.Findings[0].Summary != "alice failed 2 times" {
		t.Fatalf("findings %+v, want the summary %q", res.Findings, "alice failed 2 times")
	}
}

// TestHAMergedEqualsOneLog: one cluster's log split over three
// apiservers' logs (corpus.GenerateSplit: each request in one of them),
// merged by time, gives the findings of the one log, but for where the
// evidence was read.
func TestHAMergedEqualsOneLog(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a corpus")
	}
	opts := corpus.Options{Size: 6 << 20, Seed: 5, Shape: corpus.ShapeLarge}
	var one bytes.Buffer
	if _, err := corpus.Generate(&one, opts); err != nil {
		t.Fatal(err)
	}
	parts := make([]bytes.Buffer, 3)
	ws := []io.Writer{&parts[0], &parts[1], &parts[2]}
	if _, err := corpus.GenerateSplit(ws, opts); err != nil {
		t.Fatal(err)
	}
	rs, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	read := func(bufs ...[]byte) []byte {
		var ins []sources.Input
		for i, b := range bufs {
			ins = append(ins, sources.Input{Name: fmt.Sprintf("apiserver-%d.log", i+1), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }})
		}
		eng, err := detectors.New(rs, detectors.Options{Streaming: sources.TimeOrdered(ins)})
		if err != nil {
			t.Fatal(err)
		}
		ro := sources.ReadOptions{Inputs: ins, Workers: 2, ChunkSize: 64 << 10}
		if _, err := sources.Read(context.Background(), ro, eng.NewSink); err != nil {
			t.Fatal(err)
		}
		res := eng.Finish()
		for i := range res.Findings {
			res.Findings[i].Location = nil
		}
		out, _ := json.MarshalIndent(res, "", " ")
		return out
	}
	want := read(one.Bytes())
	got := read(parts[0].Bytes(), parts[1].Bytes(), parts[2].Bytes())
	if !bytes.Contains(want, []byte(`"rule"`)) {
		t.Fatal("no findings in the one log: the test would prove nothing")
	}
	if !bytes.Equal(got, want) {
		if d := os.Getenv("DETECT_DIFF_DIR"); d != "" {
			os.WriteFile(filepath.Join(d, "want.json"), want, 0o644)
			os.WriteFile(filepath.Join(d, "got.json"), got, 0o644)
		}
		t.Error("the three apiservers' logs merged give other findings than the one log")
	}
}
