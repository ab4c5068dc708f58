package sources_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/sources"
)

// TestReadFromCheckpoint: an input read from Start delivers the events of
// the lines from there, reports the offset after the last whole line it
// delivered, and holds back a growing input's unfinished last line.
func TestReadFromCheckpoint(t *testing.T) {
	lines := readLines(t)
	data := joinLines(lines)
	third := len(joinLines(lines[:3])) // offset of line 4
	partial := append(append([]byte{}, data...), lines[0][:40]...)
	for _, tc := range []struct {
		name    string
		raw     []byte // as stored
		start   int64
		seeked  bool // Open returns the stream from start
		growing bool
		// events delivered (the log holds 10 lines, 9 requests; from line 4,
		// 7), End, and a warning that must be printed
		events  int
		end     int64
		warning string
	}{
		{name: "plain, from 0", raw: data, events: 9, end: int64(len(data))},
		{name: "plain, discarding to a checkpoint", raw: data, start: int64(third), events: 7, end: int64(len(data))},
		{name: "plain, seeked", raw: data, start: int64(third), seeked: true, events: 7, end: int64(len(data))},
		{name: "gzip, from a checkpoint", raw: gzipBytes(t, data), start: int64(third), events: 7, end: int64(len(data))},
		{name: "zstd, from a checkpoint", raw: zstdBytes(t, data), start: int64(third), events: 7, end: int64(len(data))},
		{name: "at the end: nothing new", raw: data, start: int64(len(data)), events: 0, end: int64(len(data))},
		{name: "growing, an unfinished last line is left", raw: partial, growing: true, events: 9, end: int64(len(data))},
		{name: "growing, from a checkpoint", raw: partial, start: int64(third), growing: true, events: 7, end: int64(len(data))},
		{name: "finished, a last line without newline is read", raw: append(append([]byte{}, data...), lines[0]...), events: 10, end: int64(len(data) + len(lines[0]))},
		{name: "gzip shorter than the checkpoint", raw: gzipBytes(t, data), start: int64(len(data) + 100), events: 0, end: int64(len(data)),
			warning: fmt.Sprintf("ends at byte %d, before byte %d where the last run stopped", len(data), len(data)+100)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, workers := range []int{1, 3} {
				raw := tc.raw
				if tc.seeked {
					raw = raw[tc.start:]
				}
				in := sources.Input{Name: "audit.log", Start: tc.start, Seeked: tc.seeked, Growing: tc.growing,
					Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }}
				var c collector
				st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: []sources.Input{in}, Workers: workers, ChunkSize: 1024}, c.newSink)
				if err != nil && tc.events > 0 {
					t.Fatal(err)
				}
				if got := len(c.seen); got != tc.events {
					t.Errorf("workers %d: %d events, want %d", workers, got, tc.events)
				}
				if got := st.Inputs[0].End; got != tc.end {
					t.Errorf("workers %d: end %d, want %d", workers, got, tc.end)
				}
				if tc.warning != "" && !strings.Contains(strings.Join(st.Warnings, "\n"), tc.warning) {
					t.Errorf("warnings %q, want %q", st.Warnings, tc.warning)
				}
				if tc.events > 0 && st.Inputs[0].Last.IsZero() {
					t.Errorf("no time of the last event")
				}
			}
		})
	}
}

// TestOpenRequestsCarryOver: a watch counted at its ResponseStarted by one
// run is not counted again at its ResponseComplete by the next.
func TestOpenRequestsCarryOver(t *testing.T) {
	const id = "0f0f0f0f-0000-4000-8000-000000000001"
	ev := func(stage, stageTime string) string {
		return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id + `","stage":"` + stage +
			`","requestURI":"/api/v1/pods?watch=true","verb":"watch","user":{"username":"u"},"objectRef":{"resource":"pods","apiVersion":"v1"},` +
			`"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-24T10:00:00Z","stageTimestamp":"` + stageTime + `"}` + "\n"
	}
	first := []byte(ev("ResponseStarted", "2026-11-24T10:00:00Z"))
	second := []byte(ev("ResponseComplete", "2026-11-24T10:05:00Z"))
	read := func(data []byte, open map[string]int64) (int, map[string]int64) {
		var c collector
		in := sources.Input{Name: "audit.log", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
		st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: []sources.Input{in}, OpenRequests: open, KeepOpen: true}, c.newSink)
		if err != nil {
			t.Fatal(err)
		}
		return len(c.seen), st.OpenRequests
	}
	for _, tc := range []struct {
		name  string
		carry bool
		want  int
	}{
		{"carried over: counted once", true, 0},
		{"not carried: the later stage counts", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, open := read(first, nil)
			if n != 1 || len(open) != 1 {
				t.Fatalf("first run: %d events, %d open requests; want 1, 1", n, len(open))
			}
			if !tc.carry {
				open = nil
			}
			if n, _ := read(second, open); n != tc.want {
				t.Errorf("second run counted %d events, want %d", n, tc.want)
			}
		})
	}
}
