package detectors

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"reflect"
	"sync"
	"testing"

	"github.com/expr-lang/expr/vm"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/corpus"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

var shipped = sync.OnceValues(builtin.Rules)

func shippedRules(tb testing.TB) []*rules.Rule {
	tb.Helper()
	rs, err := shipped()
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

// corpusLines is a generated corpus (the benchmark's generator, small),
// one event per line.
var corpusLines = sync.OnceValue(func() [][]byte {
	var b bytes.Buffer
	if _, err := corpus.Generate(&b, corpus.Options{Size: 4 << 20, Seed: 11}); err != nil {
		panic(err)
	}
	return bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n"))
})

func gunzipFile(tb testing.TB, name string) []byte {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestSinkEventAllocs pins the cost of an event no rule can match: the
// prefilter index turns it away without an allocation, which is what keeps
// detect near top's speed on a log where most events concern no rule.
func TestSinkEventAllocs(t *testing.T) {
	// Every prefilter field of one rule, so that the event below, which
	// has all of them but the decision (checked last), walks the whole
	// index: the node-name extra of a bound service-account token, an
	// annotation, the latency thresholds.
	const everyField = `
- id: every-field
  title: every prefilter field
  severity: low
  match: >-
    verb == "create" && code == 201 && stage == "ResponseComplete" && resource == "pods" &&
    subresource == "binding" && apiGroup == "" && apiVersion == "v1" && namespace == "default" &&
    node != "" && latency >= 0.001 && annotation("example.com/a") != "" && decision == "forbid"
  summary: x
`
	const boundToken = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1",` +
		`"stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/p/binding","verb":"create",` +
		`"user":{"username":"system:serviceaccount:kube-system:binder","groups":["system:serviceaccounts"],` +
		`"extra":{"authentication.kubernetes.io/node-name":["node-1"]}},"sourceIPs":["10.0.0.1"],` +
		`"objectRef":{"resource":"pods","namespace":"default","name":"p","apiVersion":"v1","subresource":"binding"},` +
		`"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-11-24T10:00:00.000000Z",` +
		`"stageTimestamp":"2026-11-24T10:00:00.010000Z","annotations":{"authorization.k8s.io/decision":"allow","example.com/a":"1"}}`
	custom, errs := rules.ParseAndCompile("every-field.yaml", []byte(everyField))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	t.Logf("every-field: prefilter %s", custom[0].Compiled().Prefilter)

	tests := []struct {
		name  string
		rules []*rules.Rule
		lines [][]byte
		// min is how many of the lines the index must turn away, so
		// the test cannot pass on no events.
		min int
	}{
		{"shipped rules, corpus events", shippedRules(t), corpusLines(), 100},
		{"every prefilter field, turned away by the last", custom, [][]byte{[]byte(boundToken)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, opts := range []Options{{Streaming: true}, {}} {
				eng, err := New(tt.rules, opts)
				if err != nil {
					t.Fatal(err)
				}
				s := eng.NewSink().(*Sink)
				m := newBitset(len(eng.idx.owner))
				rejected := 0
				for i, line := range tt.lines {
					var e audit.Event
					if !e.Scan(line) {
						t.Fatalf("line %d: not an event", i+1)
					}
					if eng.idx.candidates(&e, m) {
						continue
					}
					rejected++
					if n := testing.AllocsPerRun(10, func() { s.Event(&e) }); n != 0 {
						t.Errorf("%+v: line %d: %v allocations, want 0: %s", opts, i+1, n, line)
					}
				}
				if rejected < tt.min {
					t.Errorf("%+v: the index turned away %d events, want at least %d", opts, rejected, tt.min)
				}
			}
		})
	}
}

// runEngine runs rules over JSON lines through one sink, with the index
// on or bypassed.
func runEngine(tb testing.TB, rs []*rules.Rule, lines [][]byte, repeat int, noIndex bool) *Result {
	tb.Helper()
	eng, err := New(rs, Options{Streaming: true})
	if err != nil {
		tb.Fatal(err)
	}
	eng.noIndex = noIndex
	s := eng.NewSink()
	var e audit.Event
	for i, line := range lines {
		if !e.Scan(line) {
			continue
		}
		e.Source = audit.Position{File: "fuzz", Offset: int64(i)}
		for r := 0; r < repeat; r++ {
			s.Event(&e)
		}
	}
	return eng.Finish()
}

// readEngine runs rules over a file the way detect reads it.
func readEngine(tb testing.TB, rs []*rules.Rule, file string, noIndex bool) *Result {
	tb.Helper()
	eng, err := New(rs, Options{Streaming: true})
	if err != nil {
		tb.Fatal(err)
	}
	eng.noIndex = noIndex
	in, err := sources.ResolveInputs([]string{file}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ro := sources.ReadOptions{Inputs: in, Workers: 2}
	if _, err := sources.Read(context.Background(), ro, eng.NewSink); err != nil {
		tb.Fatal(err)
	}
	return eng.Finish()
}

// TestIndexNeverChangesFindings is the prefilter planner's safety net: all
// shipped rules over a generated corpus and over the recorded logs, with
// the index bypassed (every event a candidate for every rule, every match
// run) and with it on, must find the same. Only findings are compared:
// blindness counts the events a rule's prefilter watches, which without
// the index are all events, and match errors are counted on the events
// each rule runs its match on.
func TestIndexNeverChangesFindings(t *testing.T) {
	rs := shippedRules(t)
	dir := t.TempDir()
	generated := dir + "/corpus.log"
	if err := os.WriteFile(generated, append(bytes.Join(corpusLines(), []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, in := range []struct{ name, file string }{
		{"generated corpus", generated},
		{"cmd/testdata/real", "../cmd/testdata/real/audit.log.gz"},
		{"examples", "../examples/audit.log.gz"},
	} {
		t.Run(in.name, func(t *testing.T) {
			on := readEngine(t, rs, in.file, false)
			off := readEngine(t, rs, in.file, true)
			if len(on.Findings) == 0 {
				t.Fatal("no findings: nothing to compare")
			}
			t.Logf("%d findings of %d events", len(on.Findings), on.Events)
			if on.Events != off.Events {
				t.Errorf("events: %d with the index, %d without", on.Events, off.Events)
			}
			diffFindings(t, on.Findings, off.Findings)
		})
	}
}

func diffFindings(t *testing.T, on, off []Finding) {
	t.Helper()
	if reflect.DeepEqual(on, off) {
		return
	}
	t.Errorf("%d findings with the index, %d without", len(on), len(off))
	for i := 0; i < max(len(on), len(off)); i++ {
		var a, b any
		if i < len(on) {
			a = on[i]
		}
		if i < len(off) {
			b = off[i]
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("first difference at %d:\n  with index:    %+v\n  without index: %+v", i, a, b)
			return
		}
	}
}

// checkAdmission is the property per event and rule: the index never turns
// away an event the rule's match accepts, and for a rule whose prefilter
// is exact (the runtime skips its match) it admits exactly those.
func checkAdmission(t *testing.T, eng *Engine, line []byte) {
	var e audit.Event
	if !e.Scan(line) {
		return
	}
	// Before any program parses a body (Absent then no longer knows).
	absent := make([]bool, len(eng.comp))
	for i, c := range eng.comp {
		absent[i] = c.BodyNeeds != nil && allAbsent(&e, c.BodyNeeds)
	}
	env := audit.NewExprEnv()
	env.Set(&e)
	var machine vm.VM
	m := newBitset(len(eng.idx.owner))
	eng.idx.candidates(&e, m)
	admitted := make([]bool, len(eng.comp))
	for j := range eng.idx.owner {
		if m[j/64]&(1<<(j%64)) != 0 {
			admitted[eng.idx.owner[j]] = true
		}
	}
	for i, c := range eng.comp {
		out, err := machine.Run(c.Match, env)
		matched, _ := out.(bool)
		if err != nil {
			matched = false
		}
		switch {
		case matched && !admitted[i]:
			t.Errorf("rule %s: the index turned away an event its match accepts: %s", eng.rules[i].ID, line)
		case c.MatchExact && admitted[i] && !matched:
			t.Errorf("rule %s: exact prefilter %s admits an event its match rejects: %s", eng.rules[i].ID, c.Prefilter, line)
		}
		if absent[i] && (matched || err != nil) {
			t.Errorf("rule %s: none of %q is in the event, but the match says %v (error %v): %s", eng.rules[i].ID, c.BodyNeeds, out, err, line)
		}
		if admitted[i] && c.Residual != nil {
			out, err := machine.Run(c.Residual, env)
			res, _ := out.(bool)
			if err != nil {
				res = false
			}
			if res != matched {
				t.Errorf("rule %s: on an event the prefilter admits the residual match says %v, the match %v: %s", eng.rules[i].ID, res, matched, line)
			}
		}
	}
}

// FuzzIndexNeverChangesFindings checks the same property on fuzzed events:
// per event and rule (checkAdmission), and as findings over the input with
// each event repeated, so that count thresholds are reached.
func FuzzIndexNeverChangesFindings(f *testing.F) {
	seeds, err := os.ReadFile("../audit/testdata/events.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range bytes.Split(bytes.TrimSpace(seeds), []byte("\n")) {
		f.Add(line, uint8(5))
	}
	real := bytes.Split(bytes.TrimSpace(gunzipFile(f, "../examples/audit.log.gz")), []byte("\n"))
	for i := 0; i < len(real); i += 97 {
		f.Add(real[i], uint8(20))
	}
	var small bytes.Buffer
	if _, err := corpus.Generate(&small, corpus.Options{Size: 16 << 10, Seed: 5}); err != nil {
		f.Fatal(err)
	}
	f.Add(small.Bytes(), uint8(3))
	rs := shippedRules(f)
	eng, err := New(rs, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, repeat uint8) {
		lines := bytes.Split(data, []byte("\n"))
		for _, line := range lines {
			checkAdmission(t, eng, line)
		}
		n := int(repeat%32) + 1
		diffFindings(t, runEngine(t, rs, lines, n, false).Findings, runEngine(t, rs, lines, n, true).Findings)
	})
}

// BenchmarkSinkEvent is detect's step on events a rule counts by plain
// event fields: the fast getters of group_by keys and an aggregate
// argument, no expression run.
func BenchmarkSinkEvent(b *testing.B) {
	const byFields = `
- id: by-fields
  title: by fields
  severity: low
  match: "true"
  group_by: [user, verb, resourceKey, serviceAccount, code, node, sourceIP, decision, path, namespace]
  values:
    agents: values(userAgent)
  summary: x
`
	rs, errs := rules.ParseAndCompile("by-fields.yaml", []byte(byFields))
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	seeds, err := os.ReadFile("../audit/testdata/events.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	var evs []*audit.Event
	for _, line := range bytes.Split(bytes.TrimSpace(seeds), []byte("\n")) {
		e := new(audit.Event)
		if e.Scan(line) {
			evs = append(evs, e)
		}
	}
	eng, err := New(rs, Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := eng.NewSink()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Event(evs[i%len(evs)])
	}
}

// TestStrIndexTable: the shipped rules' string indexes are collision-free
// tables, and a table's lookup gives what the map gives, for the values
// rules name and for others (empty, one byte, same length and ends).
func TestStrIndexTable(t *testing.T) {
	rs, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	var pfs []rules.Filter
	for _, r := range rs {
		pfs = append(pfs, r.Compiled().Prefilter)
	}
	x := buildIndex(pfs)
	fields := map[string]*strIndex{"verb": &x.verb, "resource": &x.resource, "subresource": &x.subresource,
		"apiGroup": &x.apiGroup, "stage": &x.stage, "decision": &x.decision, "apiVersion": &x.apiVersion,
		"namespace": &x.namespace, "impersonated": &x.impersonated}
	for name, idx := range fields {
		if idx.used && len(idx.vals) > 0 && idx.bits == nil {
			t.Errorf("%s: %d values and no table", name, len(idx.vals))
		}
		probes := []string{"", "x", "zz", "pods", "pods ", "podz", "spod", "\x00not a value\x00"}
		for v := range idx.vals {
			probes = append(probes, v, v+"s", "x"+v, v[:len(v)/2])
		}
		viaMap := func(v string) bitset {
			if b, ok := idx.vals[v]; ok {
				return b
			}
			return idx.other
		}
		for _, v := range probes {
			if got, want := idx.lookup(v), viaMap(v); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: lookup(%q) = %v, want %v", name, v, got, want)
			}
		}
	}
}
