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
	"testing"
	"time"
)

// BenchmarkRead reads the same bytes (the recorded log repeated to
// KUBECTL_AUDIT_BENCH_MB, default 1024 MiB, in 16 objects) from local
// files and from moto's S3 through a Source, counting lines as the
// reader's first stage does. Run it on an idle machine:
//
//	go test -run '^$' -bench BenchmarkRead -benchtime 2x ./sources/bucket/
func BenchmarkRead(b *testing.B) {
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
	obj := bytes.Repeat(unit, int(per)/len(unit)+1)[:0]
	for int64(len(obj))+int64(len(unit)) <= per {
		obj = append(obj, unit...)
	}
	total := int64(len(obj)) * objects

	dir := b.TempDir()
	keys := make([]string, objects)
	objs := map[string][]byte{}
	for i := range keys {
		keys[i] = fmt.Sprintf("bench/2026/11/25/05/part-%02d.json", i)
		p := filepath.Join(dir, filepath.FromSlash(keys[i]))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, obj, 0o644); err != nil {
			b.Fatal(err)
		}
		objs[keys[i]] = obj
	}
	e := moto(b)
	u := fmt.Sprintf("s3://bench-audit/bench/?endpoint=http://%s&use_path_style=true", e.addr)
	start := time.Now()
	uploadTB(b, u, objs)
	b.Logf("%d MiB in %d objects; uploaded to moto in %s", total>>20, objects, time.Since(start).Round(time.Millisecond))

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
	wantLines := int64(bytes.Count(obj, []byte{'\n'})) * objects
	buf := make([]byte, 1<<20)

	b.Run("local", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			var n int64
			for _, k := range keys {
				f, err := os.Open(filepath.Join(dir, filepath.FromSlash(k)))
				if err != nil {
					b.Fatal(err)
				}
				n += count(f, buf)
				_ = f.Close()
			}
			if n != wantLines {
				b.Fatalf("%d lines, want %d", n, wantLines)
			}
		}
	})
	b.Run("s3-moto", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			ctx := context.Background()
			s, err := Open(ctx, u, Options{})
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
			if n != wantLines {
				b.Fatalf("%d lines, want %d", n, wantLines)
			}
		}
	})
}
