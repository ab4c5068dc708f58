package sources_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// TestMergeByTime: logs of several apiservers that overlap in time are
// delivered as one stream in time order (out of order by a few seconds at
// most, as one apiserver's log is), while one log's rotated files stay one
// stream read in order.
func TestMergeByTime(t *testing.T) {
	start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	gen := func(server, n int, every time.Duration) []byte {
		var b bytes.Buffer
		for i := 0; i < n; i++ {
			ts := start.Add(time.Duration(i) * every).Format(time.RFC3339Nano)
			fmt.Fprintf(&b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"s%d-%d","stage":"ResponseComplete","verb":"get","requestURI":"/api/v1/pods","user":{"username":"u"},"objectRef":{"resource":"pods"},"responseStatus":{"code":200},"requestReceivedTimestamp":"%s","stageTimestamp":"%s"}`+"\n", server, i, ts, ts)
		}
		return b.Bytes()
	}
	input := func(name string, data []byte) sources.Input {
		return sources.Input{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	}
	// Three apiservers, 10 minutes each, 10 events a second; a sparse one
	// (one event a minute) whose chunks would span hours unmerged.
	inputs := []sources.Input{
		input("/l/apiserver-1/audit.log", gen(1, 6000, 100*time.Millisecond)),
		input("/l/apiserver-2/audit.log", gen(2, 6000, 100*time.Millisecond)),
		input("/l/apiserver-3/audit.log", gen(3, 6000, 100*time.Millisecond)),
		input("/l/sparse/audit.log", gen(4, 10, time.Minute)),
	}
	for _, workers := range []int{1, 2} {
		type order struct {
			n     int
			last  time.Time
			worst time.Duration
		}
		var sinks []*order // one per sink; Read creates them from one goroutine
		st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: inputs, Workers: workers, ChunkSize: 64 << 10},
			func() audit.Sink {
				o := &order{}
				sinks = append(sinks, o)
				return audit.SinkFunc(func(e *audit.Event) {
					o.n++
					if d := o.last.Sub(e.StageTime); d > o.worst {
						o.worst = d
					}
					if e.StageTime.After(o.last) {
						o.last = e.StageTime
					}
				})
			})
		if err != nil {
			t.Fatal(err)
		}
		n, worst := 0, time.Duration(0)
		for _, o := range sinks {
			n += o.n
			worst = max(worst, o.worst)
		}
		if n != 18010 || st.Used != 18010 {
			t.Fatalf("workers %d: %d events delivered, %d used, want 18010", workers, n, st.Used)
		}
		// With one worker, delivery order is the merged order.
		if workers == 1 && worst > 6*time.Second {
			t.Errorf("events went back %v in time: inputs not merged by time", worst)
		}
	}
	if !sources.TimeOrdered(inputs) {
		t.Error("TimeOrdered = false for four streams")
	}
}

// TestTimeOrderedArchives: a tar archive's files come in the archive's
// order, so detect does not take it for a log in time order.
func TestTimeOrderedArchives(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"audit.log", true},
		{"audit.log.gz", true},
		{"bundle.tar.gz", false},
		{"bundle.TGZ", false},
		{"logs.tar", false},
		{"logs.tar.zst", false},
	} {
		in := []sources.Input{{Name: tt.name}}
		if got := sources.TimeOrdered(in); got != tt.want {
			t.Errorf("TimeOrdered(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
