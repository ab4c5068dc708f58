package sources_test

import (
	"bytes"
	"context"
	"github.com/kubectl-audit/kubectl-audit/audit"
	"io"
	"os"
	"sync/atomic"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/sources"
)

// FuzzRead feeds arbitrary bytes through the whole reading path (envelope
// detection, line splitting, long lines, documents, stage resolution): it
// must never panic, and its counts must stay consistent.
//
//	go test ./sources -run XXX -fuzz FuzzRead -fuzztime 10m
func FuzzRead(f *testing.F) {
	b, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	f.Add(b)
	for _, l := range lines {
		f.Add(l)
	}
	f.Add([]byte(`{"kind":"EventList","items":[` + string(lines[0]) + `,` + string(lines[1]) + `]}`))
	f.Add([]byte(`{"message":` + quoteJSON(lines[2]) + `}`))
	f.Add([]byte(`{"properties":{"log":` + quoteJSON(lines[3]) + `}}`))
	f.Add([]byte(`{"records":[{"properties":{"log":` + quoteJSON(lines[3]) + `}}]}`))
	f.Add([]byte("[\n" + string(lines[4]) + "\n]"))
	f.Add([]byte("{\n\"items\": []\n}"))
	f.Add([]byte("2026-11-24T10:00:00.1Z stderr F klog\n2026-11-24T10:00:00.1Z stdout P " + string(lines[0][:40]) + "\n2026-11-24T10:00:00.1Z stdout F " + string(lines[0][40:]) + "\n"))
	f.Add([]byte(`{"log":` + quoteJSON(append(lines[1], '\n')) + `,"stream":"stdout","time":"2026-11-24T10:00:00Z"}`))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := []sources.Input{{Name: "fuzz", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}}
		for _, workers := range []int{1, 2} {
			var used atomic.Int64
			st, _ := sources.Read(context.Background(), sources.ReadOptions{Inputs: in, Workers: workers, ChunkSize: 1024, MaxLineSize: 2048},
				func() audit.Sink {
					return audit.SinkFunc(func(e *audit.Event) {
						used.Add(1)
						_ = e.ResourceKey()
						_ = e.NodeName()
						_ = e.Latency()
						e.VisitAnnotations(func(k, v string) {})
						env := audit.NewExprEnv()
						env.Set(e)
						_ = env.Get("requestObject.spec")
					})
				})
			if st == nil {
				t.Fatal("nil stats")
			}
			if st.Used != used.Load() || st.Used > st.Events {
				t.Fatalf("used %d (sinks saw %d), events %d", st.Used, used.Load(), st.Events)
			}
		}
	})
}
