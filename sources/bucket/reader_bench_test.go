//go:build readerbench

// Built only with -tags readerbench, so that the package's tests never
// depend on the rest of the module:
//
//	go test -tags readerbench -run '^$' -bench BenchmarkReader -benchtime 2x ./sources/bucket/

package bucket_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/sources"
	"github.com/kubectl-audit/kubectl-audit/sources/bucket"
)

// BenchmarkReader reads the benchmark data through the audit reader (the
// decoding every command does), from local files and from moto's S3: how
// much of the reader's speed a bucket keeps.
func BenchmarkReader(b *testing.B) {
	d := bucket.PrepareBench(b)
	read := func(b *testing.B, inputs []sources.Input) {
		var events atomic.Int64
		st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: inputs},
			func() audit.Sink { return audit.SinkFunc(func(*audit.Event) { events.Add(1) }) })
		if err != nil {
			b.Fatal(err)
		}
		if st.Lines != d.Lines || st.SkippedTotal() != 0 {
			b.Fatalf("%d lines, %d skipped; want %d and 0", st.Lines, st.SkippedTotal(), d.Lines)
		}
	}
	b.Run("local", func(b *testing.B) {
		b.SetBytes(d.Total)
		cpu0 := selfCPU()
		defer func() { b.ReportMetric((selfCPU()-cpu0).Seconds()/float64(b.N), "cpu-s/op") }()
		for b.Loop() {
			var inputs []sources.Input
			for _, k := range d.Keys {
				p := filepath.Join(d.Dir, filepath.FromSlash(k))
				inputs = append(inputs, sources.Input{Name: p, Open: func() (io.ReadCloser, error) { return os.Open(p) }})
			}
			read(b, inputs)
		}
	})
	b.Run("s3-moto", func(b *testing.B) {
		b.SetBytes(d.Total)
		cpu0, self0 := d.EmulatorCPU(), selfCPU()
		defer func() {
			b.ReportMetric((d.EmulatorCPU()-cpu0).Seconds()/float64(b.N), "moto-cpu-s/op")
			b.ReportMetric((selfCPU()-self0).Seconds()/float64(b.N), "cpu-s/op")
		}()
		for b.Loop() {
			ctx := context.Background()
			s, err := bucket.Open(ctx, d.URL, bucket.Options{})
			if err != nil {
				b.Fatal(err)
			}
			objs, err := s.Objects(ctx, time.Time{}, time.Time{})
			if err != nil {
				b.Fatal(err)
			}
			var inputs []sources.Input
			for _, o := range objs {
				inputs = append(inputs, sources.Input{Name: o.Name, Open: o.Open})
			}
			read(b, inputs)
			_ = s.Close()
		}
	})
}

// selfCPU is this process's user and system time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
