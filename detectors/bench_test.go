package detectors_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/corpus"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
	"github.com/kubectl-audit/kubectl-audit/sources"
	"github.com/kubectl-audit/kubectl-audit/top"
)

var (
	benchOnce sync.Once
	benchFile string
)

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
