package bucket

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchData is the benchmarks' data: the recorded log repeated to
// KUBECTL_AUDIT_BENCH_MB (default 1024 MiB) in 16 objects, as local files
// and in moto's S3, prepared once per run.
type BenchData struct {
	// EmulatorCPU is the CPU time moto has used so far: it runs on the
	// same cores as the reader, which a real S3 does not.
	EmulatorCPU func() time.Duration
	Dir         string   // local copies
	Keys        []string // the objects' keys, also their paths under Dir
	URL         string   // the S3 prefix in moto
	Total       int64    // bytes
	Lines       int64
}

var (
	benchOnce sync.Once
	bench     BenchData
)

func PrepareBench(b *testing.B) BenchData {
	benchOnce.Do(func() {
		mb := 1024
		if v, err := strconv.Atoi(os.Getenv("KUBECTL_AUDIT_BENCH_MB")); err == nil && v > 0 {
			mb = v
		}
		const objects = 16
		var unit []byte
		for _, c := range recorded(b) {
			unit = append(unit, strings.Join(c.lines, "\n")...)
			unit = append(unit, '\n')
		}
		per := int64(mb) << 20 / objects
		obj := bytes.Repeat(unit, int(per/int64(len(unit))))
		dir, err := os.MkdirTemp("", "kubectl-audit-bench-")
		if err != nil {
			b.Fatal(err)
		}
		bench = BenchData{Dir: dir, Total: int64(len(obj)) * objects, Lines: int64(bytes.Count(obj, []byte{'\n'})) * objects}
		objs := map[string][]byte{}
		for i := range objects {
			k := fmt.Sprintf("bench/2026/11/25/05/part-%02d.json", i)
			bench.Keys = append(bench.Keys, k)
			p := filepath.Join(dir, filepath.FromSlash(k))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, obj, 0o644); err != nil {
				b.Fatal(err)
			}
			objs[k] = obj
		}
		e := moto(b)
		pid := e.cmd.Process.Pid
		bench.EmulatorCPU = func() time.Duration { return procCPU(pid) }
		bench.URL = fmt.Sprintf("s3://bench-audit/bench/?endpoint=http://%s&use_path_style=true", e.addr)
		start := time.Now()
		uploadTB(b, bench.URL, objs)
		b.Logf("%d MiB in %d objects; uploaded to moto in %s", bench.Total>>20, objects, time.Since(start).Round(time.Millisecond))
		emuMu.Lock()
		emuCleanup = append(emuCleanup, func() { _ = os.RemoveAll(dir) })
		emuMu.Unlock()
	})
	if bench.URL == "" {
		b.Fatal("benchmark data not prepared")
	}
	return bench
}

// BenchmarkRead reads the same bytes from local files and from moto's S3
// through a Source, counting lines: the transfer alone. Run it on an idle
// machine:
//
//	go test -run '^$' -bench . -benchtime 2x ./sources/bucket/
//
// BenchmarkReader (reader_bench_test.go) does the same through the audit
// reader.
func BenchmarkRead(b *testing.B) {
	d := PrepareBench(b)
	count := func(r io.Reader, buf []byte) int64 {
		var n int64
		for {
			k, err := r.Read(buf)
			n += int64(bytes.Count(buf[:k], []byte{'\n'}))
			if err != nil {
				return n
			}
		}
	}
	buf := make([]byte, 1<<20)
	b.Run("local", func(b *testing.B) {
		b.SetBytes(d.Total)
		for b.Loop() {
			var n int64
			for _, k := range d.Keys {
				f, err := os.Open(filepath.Join(d.Dir, filepath.FromSlash(k)))
				if err != nil {
					b.Fatal(err)
				}
				n += count(f, buf)
				_ = f.Close()
			}
			if n != d.Lines {
				b.Fatalf("%d lines, want %d", n, d.Lines)
			}
		}
	})
	b.Run("s3-moto", func(b *testing.B) {
		b.SetBytes(d.Total)
		cpu0 := d.EmulatorCPU()
		defer func() { b.ReportMetric((d.EmulatorCPU()-cpu0).Seconds()/float64(b.N), "moto-cpu-s/op") }()
		for b.Loop() {
			ctx := context.Background()
			s, err := Open(ctx, d.URL, Options{})
			if err != nil {
				b.Fatal(err)
			}
			list, err := s.Objects(ctx, time.Time{}, time.Time{})
			if err != nil {
				b.Fatal(err)
			}
			var n int64
			for _, o := range list {
				rc, err := o.Open()
				if err != nil {
					b.Fatal(err)
				}
				n += count(rc, buf)
				_ = rc.Close()
			}
			_ = s.Close()
			if n != d.Lines {
				b.Fatalf("%d lines, want %d", n, d.Lines)
			}
		}
	})
}

// procCPU is the user and system time of a process and its waited-for
// children, from /proc/PID/stat (zero when unreadable).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, k := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, _ := strconv.ParseInt(f[k], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
