package audit

import (
	"bytes"
	"os"
	"testing"
)

// testEvents are the lines of testdata/events.jsonl: every stage, node and
// service-account users, a bound token's node-name extra, impersonation,
// escaped strings, annotations.
func testEvents(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(b), []byte("\n"))
}

// TestScanAllocs pins what README promises of the reading path: scanning
// an event and reading the fields every command uses, the catalog's fast
// getters included, allocate nothing once the event's buffers have grown
// (AllocsPerRun's warm-up run).
func TestScanAllocs(t *testing.T) {
	var arena []byte
	steps := []struct {
		name string
		fn   func(e *Event, line []byte)
	}{
		{"Scan", func(e *Event, line []byte) { e.Scan(line) }},
		{"SourceIP", func(e *Event, _ []byte) { _ = e.SourceIP() }},
		{"NodeName", func(e *Event, _ []byte) { _ = e.NodeName() }},
		{"Decision", func(e *Event, _ []byte) { _ = e.Decision() }},
		{"Annotation", func(e *Event, _ []byte) { _ = e.Annotation("authorization.k8s.io/reason") }},
		{"User.Extra", func(e *Event, _ []byte) { _ = e.User.Extra(ExtraNodeName) }},
		{"Latency", func(e *Event, _ []byte) { _ = e.Latency() }},
		{"LongRunning", func(e *Event, _ []byte) { _ = e.LongRunning() }},
		{"AppendResourceKey", func(e *Event, _ []byte) { arena = e.AppendResourceKey(arena[:0]) }},
		{"AppendServiceAccount", func(e *Event, _ []byte) { arena = e.AppendServiceAccount(arena[:0]) }},
	}
	// The catalog's fast getters, which top's keys and detect's group_by
	// and aggregates read.
	for _, f := range Fields() {
		if f.GetString != nil {
			steps = append(steps, struct {
				name string
				fn   func(e *Event, line []byte)
			}{"Field " + f.Name, func(e *Event, _ []byte) { arena = arena[:0]; _ = f.GetString(e, &arena) }})
		}
	}
	for i, line := range testEvents(t) {
		var e Event
		if !e.Scan(line) {
			t.Fatalf("line %d: not an event", i+1)
		}
		for _, st := range steps {
			if n := testing.AllocsPerRun(20, func() { st.fn(&e, line) }); n != 0 {
				t.Errorf("line %d: %s: %v allocations, want 0", i+1, st.name, n)
			}
		}
	}
}
