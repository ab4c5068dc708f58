package audit

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkScan scans the lines of $AUDIT_BENCH_FILE (a generated log;
// see cmd/audit-corpus), or of testdata/events.jsonl, one event at a time
// on one core, without the line bitmap (Event.Scan): the scanner of a
// machine without AVX2, and of events re-read from memory.
func BenchmarkScan(b *testing.B) {
	data, lines := benchLines(b)
	var e Event
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, l := range lines {
			if !e.Scan(l) {
				b.Fatalf("not an event: %.80s", l)
			}
		}
	}
}

// BenchmarkDecode is what the reader does per line: Decode, which builds
// the line's bitmap (AVX2), checks UTF-8 if the line is not ASCII, and
// scans.
func BenchmarkDecode(b *testing.B) {
	data, lines := benchLines(b)
	var d Decoder
	d.Emit = func(*Event) {}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, l := range lines {
			if _, err := d.Decode(l, Position{}); err != nil {
				b.Fatalf("%v: %.80s", err, l)
			}
		}
	}
}

// benchLines reads $AUDIT_BENCH_FILE (or the test events), at most its
// first 64 MB, and splits it into lines.
func benchLines(b *testing.B) ([]byte, [][]byte) {
	path := os.Getenv("AUDIT_BENCH_FILE")
	if path == "" {
		path = "testdata/events.jsonl"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	if len(data) > 64<<20 {
		data = data[:bytes.LastIndexByte(data[:64<<20], '\n')+1]
	}
	return data, bytes.Split(bytes.TrimSpace(data), []byte("\n"))
}
