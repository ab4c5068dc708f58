package detectors_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/corpus"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
	"github.com/kubectl-audit/kubectl-audit/sources"
	"github.com/kubectl-audit/kubectl-audit/top"
)

var (
	benchOnce sync.Once
	benchFile string
	benchDir  string
)

// TestMain removes the corpus corpusFile generated.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		_ = os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// corpusFile is $AUDIT_BENCH_FILE, or a 64 MB generated corpus.
func corpusFile(tb testing.TB) string {
	benchOnce.Do(func() {
		if f := os.Getenv("AUDIT_BENCH_FILE"); f != "" {
			benchFile = f
			return
		}
		dir, err := os.MkdirTemp("", "detect-bench")
		if err != nil {
			panic(err)
		}
		benchDir = dir
		benchFile = filepath.Join(dir, "audit.log")
		f, err := os.Create(benchFile)
		if err != nil {
			panic(err)
		}
		if _, err := corpus.Generate(f, corpus.Options{Size: 64 << 20, Seed: 7}); err != nil {
			panic(err)
		}
		f.Close()
	})
	return benchFile
}

func runShipped(tb testing.TB, file string, workers int) *detectors.Result {
	rs, err := builtin.Rules()
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := detectors.New(rs, detectors.Options{Streaming: true})
	if err != nil {
		tb.Fatal(err)
	}
	in, err := sources.ResolveInputs([]string{file}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ro := sources.ReadOptions{Inputs: in, Workers: workers}
	if _, err := sources.Read(context.Background(), ro, eng.NewSink); err != nil {
		tb.Fatal(err)
	}
	return eng.Finish()
}

// BenchmarkDetectShipped runs every shipped rule over a generated corpus
// (set AUDIT_BENCH_FILE to use another file) and reports MB/s.
func BenchmarkDetectShipped(b *testing.B) {
	file := corpusFile(b)
	fi, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		b.Run(map[int]string{1: "workers=1", 2: "workers=2"}[workers], func(b *testing.B) {
			b.SetBytes(fi.Size())
			for i := 0; i < b.N; i++ {
				runShipped(b, file, workers)
			}
		})
	}
}

// BenchmarkTopByUser is `top --by user` on the same input: detect's
// target is at least half its speed.
func BenchmarkTopByUser(b *testing.B) {
	file := corpusFile(b)
	fi, _ := os.Stat(file)
	in, _ := sources.ResolveInputs([]string{file}, nil)
	keys, err := top.ParseKeys("user")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for i := 0; i < b.N; i++ {
		ro := sources.ReadOptions{Inputs: in, Workers: 2}
		if _, err := sources.Read(context.Background(), ro, func() audit.Sink {
			return top.New(top.Options{Groupings: [][]top.KeySpec{keys}})
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadOnly is the same read with a sink that does nothing: the
// ceiling detect is measured against.
func BenchmarkReadOnly(b *testing.B) {
	file := corpusFile(b)
	fi, _ := os.Stat(file)
	in, _ := sources.ResolveInputs([]string{file}, nil)
	b.SetBytes(fi.Size())
	for i := 0; i < b.N; i++ {
		ro := sources.ReadOptions{Inputs: in, Workers: 2}
		if _, err := sources.Read(context.Background(), ro, func() audit.Sink { return audit.SinkFunc(func(*audit.Event) {}) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScaling runs top --by user and detect (every shipped rule) on
// large-cluster-shaped logs of about 100 k, 1 M and 5 M events (128 MB,
// 1.3 GB, 6.4 GB), and reports ns/event and the peak live heap: both should
// stay flat as the input grows. The logs are written once into
// $AUDIT_BENCH_DIR (the benchmark is skipped without it):
//
//	AUDIT_BENCH_DIR=/tmp/scaling go test ./detectors -run XXX -bench Scaling -benchtime 1x
func BenchmarkScaling(b *testing.B) {
	dir := os.Getenv("AUDIT_BENCH_DIR")
	if dir == "" {
		b.Skip("set AUDIT_BENCH_DIR to a directory for the generated logs (7.8 GB)")
	}
	for _, sz := range []struct {
		name string
		size int64
	}{{"events=100k", 128 << 20}, {"events=1M", 1300 << 20}, {"events=5M", 6400 << 20}} {
		file := filepath.Join(dir, "large-"+sz.name+".log")
		events := ensureCorpus(b, file, sz.size)
		in, err := sources.ResolveInputs([]string{file}, nil)
		if err != nil {
			b.Fatal(err)
		}
		keys, err := top.ParseKeys("user")
		if err != nil {
			b.Fatal(err)
		}
		for _, work := range []string{"top", "detect"} {
			b.Run(work+"/"+sz.name, func(b *testing.B) {
				peak := watchLiveHeap()
				for i := 0; i < b.N; i++ {
					switch work {
					case "top":
						ro := sources.ReadOptions{Inputs: in, Workers: 2}
						if _, err := sources.Read(context.Background(), ro, func() audit.Sink {
							return top.New(top.Options{Groupings: [][]top.KeySpec{keys}})
						}); err != nil {
							b.Fatal(err)
						}
					case "detect":
						runShipped(b, file, 2)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*events), "ns/event")
				b.ReportMetric(float64(peak())/(1<<20), "peak-live-MB")
			})
		}
	}
}

// ensureCorpus writes a large-shape corpus of about size bytes to file
// unless it is there, and returns its number of events.
func ensureCorpus(b *testing.B, file string, size int64) int64 {
	if fi, err := os.Stat(file); err == nil && fi.Size() >= size*9/10 {
		n, err := countLines(file)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	n, err := corpus.Generate(bw, corpus.Options{Size: size, Seed: 7, Shape: corpus.ShapeLarge})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func countLines(file string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// watchLiveHeap samples the live heap (as of the last collection) every
// 20 ms; the returned function stops sampling and gives the peak.
func watchLiveHeap() func() uint64 {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var peak uint64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak {
				peak = v
			}
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-result }
}

// BenchmarkShippedSink is detect's part alone: every shipped rule, through
// one sink (a new engine per iteration), on the first 100,000 lines of the
// corpus, each scanned into one reused event first (BenchmarkDecode in
// audit is that part). ns/event is per line.
func BenchmarkShippedSink(b *testing.B) {
	lines := corpusLines(b, 100_000)
	rs, err := builtin.Rules()
	if err != nil {
		b.Fatal(err)
	}
	sinkBench(b, rs, lines)
}

// BenchmarkEachRule is BenchmarkShippedSink for one shipped rule at a
// time, and for none (the scan alone): what each rule costs per event.
// Run one with -bench 'EachRule/polling'.
func BenchmarkEachRule(b *testing.B) {
	lines := corpusLines(b, 100_000)
	rs, err := builtin.Rules()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("none", func(b *testing.B) { sinkBench(b, nil, lines) })
	for _, r := range rs {
		b.Run(r.ID, func(b *testing.B) { sinkBench(b, []*rules.Rule{r}, lines) })
	}
}

// corpusLines are the first n lines of corpusFile.
func corpusLines(b *testing.B, n int) [][]byte {
	f, err := os.Open(corpusFile(b))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() && len(lines) < n {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines
}

// sinkBench feeds lines through one sink of an engine of rs.
func sinkBench(b *testing.B, rs []*rules.Rule, lines [][]byte) {
	var ev audit.Event
	for b.Loop() {
		eng, err := detectors.New(rs, detectors.Options{Streaming: true})
		if err != nil {
			b.Fatal(err)
		}
		s := eng.NewSink()
		for _, l := range lines {
			if ev.Scan(l) {
				s.Event(&ev)
			}
		}
		eng.Finish()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/event")
}
