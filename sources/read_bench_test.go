package sources_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/corpus"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// benchCorpus returns a generated corpus: $AUDIT_BENCH_FILE if set, else a
// 256 MB one made once per run in a temp dir.
var (
	benchOnce  sync.Once
	benchPlain string
	benchGzip  string
	benchDir   string
)

// TestMain removes the corpora benchFiles generated.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		_ = os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func benchFiles(b *testing.B) (plain, gz string) {
	benchOnce.Do(func() {
		if f := os.Getenv("AUDIT_BENCH_FILE"); f != "" {
			benchPlain = f
			benchGzip = os.Getenv("AUDIT_BENCH_GZIP")
			return
		}
		dir, err := os.MkdirTemp("", "audit-bench")
		if err != nil {
			panic(err)
		}
		benchDir = dir
		benchPlain = filepath.Join(dir, "audit.log")
		benchGzip = filepath.Join(dir, "audit.log.gz")
		f, _ := os.Create(benchPlain)
		if _, err := corpus.Generate(f, corpus.Options{Size: 256 << 20, Seed: 7}); err != nil {
			panic(err)
		}
		f.Close()
		g, _ := os.Create(benchGzip)
		zw := gzip.NewWriter(g)
		src, _ := os.Open(benchPlain)
		buf := make([]byte, 1<<20)
		for {
			n, err := src.Read(buf)
			zw.Write(buf[:n])
			if err != nil {
				break
			}
		}
		zw.Close()
		g.Close()
		src.Close()
	})
	return benchPlain, benchGzip
}

type countSink struct{ n, users int }

func (c *countSink) Event(e *audit.Event) {
	c.n++
	if e.User.Username != "" {
		c.users++
	}
}

func benchRead(b *testing.B, file string, workers int) {
	fi, err := os.Stat(file)
	if err != nil {
		b.Skip(err)
	}
	inputs, err := sources.ResolveInputs([]string{file}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var plainSize int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: inputs, Workers: workers},
			func() audit.Sink { return &countSink{} })
		if err != nil {
			b.Fatal(err)
		}
		plainSize = st.Bytes
		b.ReportMetric(float64(st.Events)/b.Elapsed().Seconds()*float64(i+1), "events/s")
	}
	_ = fi
	b.SetBytes(plainSize)
}

func BenchmarkReadPlain(b *testing.B) {
	plain, _ := benchFiles(b)
	for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) { benchRead(b, plain, w) })
	}
}

func BenchmarkReadGzip(b *testing.B) {
	_, gz := benchFiles(b)
	for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) { benchRead(b, gz, w) })
	}
}

// BenchmarkGunzipOnly is the bound for gzip input: decompression alone.
func BenchmarkGunzipOnly(b *testing.B) {
	_, gz := benchFiles(b)
	benchDecompress(b, gz, func(r io.Reader) (io.Reader, func(), error) {
		zr, err := gzip.NewReader(r)
		return zr, func() {}, err
	})
}

// benchDecompress reads file through the decompressor open makes, b.N
// times, and reports the decompressed MB/s.
func benchDecompress(b *testing.B, file string, open func(io.Reader) (io.Reader, func(), error)) {
	buf := make([]byte, 4<<20)
	var total int64
	for i := 0; i < b.N; i++ {
		f, err := os.Open(file)
		if err != nil {
			b.Fatal(err)
		}
		zr, done, err := open(f)
		if err != nil {
			b.Fatal(err)
		}
		total = 0
		for {
			n, err := zr.Read(buf)
			total += int64(n)
			if err != nil {
				break
			}
		}
		done()
		f.Close()
	}
	b.SetBytes(total)
}

// zstdFile is $AUDIT_BENCH_ZSTD, or the generated corpus compressed once.
func zstdFile(b *testing.B) string {
	if f := os.Getenv("AUDIT_BENCH_ZSTD"); f != "" {
		return f
	}
	plain, _ := benchFiles(b)
	path := plain + ".zst"
	if _, err := os.Stat(path); err == nil {
		return path
	}
	src, err := os.ReadFile(plain)
	if err != nil {
		b.Fatal(err)
	}
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, zw.EncodeAll(src, nil), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReadZstd reads zstd input, which the reader decodes in one
// goroutine per stream.
func BenchmarkReadZstd(b *testing.B) {
	zs := zstdFile(b)
	for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) { benchRead(b, zs, w) })
	}
}

// BenchmarkZstdOnly is the bound for zstd input: decompression alone, with
// the reader's decoder settings.
func BenchmarkZstdOnly(b *testing.B) {
	benchDecompress(b, zstdFile(b), func(r io.Reader) (io.Reader, func(), error) {
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	})
}
