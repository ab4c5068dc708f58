package top

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// scanned returns the events of audit/testdata/events.jsonl, each in its
// own view (the lines stay unchanged, so the views stay valid).
func scanned(tb testing.TB) []*audit.Event {
	tb.Helper()
	b, err := os.ReadFile("../audit/testdata/events.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	var evs []*audit.Event
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		e := new(audit.Event)
		if !e.Scan(line) {
			tb.Fatalf("line %d: not an event", i+1)
		}
		evs = append(evs, e)
	}
	return evs
}

// TestAggregatorEventAllocs pins the promise of commit 2bac62b: once an
// event's row exists, counting it allocates nothing, whatever the keys
// (values built from parts, such as resource and serviceaccount, are
// written to the aggregator's arena). expr: keys and --where are left out
// on purpose: expr's VM boxes values into interfaces (an int of 256 or
// more, any non-empty string) and builds new strings for operators such
// as +, so expressions allocate; the README promises nothing for them.
func TestAggregatorEventAllocs(t *testing.T) {
	evs := scanned(t)
	tests := []struct {
		name, by string
		opts     Options
	}{
		{name: "user", by: "user"},
		{name: "group", by: "group"},
		{name: "useragent", by: "useragent"},
		{name: "raw useragent", by: "useragent", opts: Options{RawUserAgent: true}},
		{name: "verb", by: "verb"},
		{name: "resource", by: "resource"},
		{name: "namespace", by: "namespace"},
		{name: "name", by: "name"},
		{name: "code", by: "code"},
		{name: "decision", by: "decision"},
		{name: "sourceip", by: "sourceip"},
		{name: "node", by: "node"},
		{name: "serviceaccount", by: "serviceaccount"},
		{name: "three keys", by: "group,resource,code"},
		{name: "every and latency", by: "user,verb", opts: Options{Every: time.Minute, Latency: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys(tt.by)
			if err != nil {
				t.Fatal(err)
			}
			opts := tt.opts
			opts.Groupings = [][]KeySpec{keys}
			a := New(opts)
			for i, e := range evs {
				if n := testing.AllocsPerRun(20, func() { a.Event(e) }); n != 0 {
					t.Errorf("line %d: %v allocations per event, want 0", i+1, n)
				}
			}
		})
	}
}

// BenchmarkAggregatorEvent is one Aggregator step per key over the test
// events: the key getters on the hot path.
func BenchmarkAggregatorEvent(b *testing.B) {
	evs := scanned(b)
	for _, by := range []string{"user", "group", "useragent", "resource", "code", "node", "serviceaccount", "user,resource,code"} {
		b.Run("by="+by, func(b *testing.B) {
			keys, err := ParseKeys(by)
			if err != nil {
				b.Fatal(err)
			}
			a := New(Options{Groupings: [][]KeySpec{keys}})
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				a.Event(evs[i%len(evs)])
			}
		})
	}
}
