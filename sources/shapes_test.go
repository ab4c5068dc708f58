package sources_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// TestShapes reads the odd shapes real exporters and old apiservers write
// (testdata/shapes, each written from the shape a real log has): every
// event is read or counted as skipped with a reason that says what is
// missing, and no event is placed in year 1.
func TestShapes(t *testing.T) {
	tests := []struct {
		file      string
		want      []string // "auditID at timeFrom latency"
		skip      map[string]int64
		problem   string
		lines     int64
		summaries []string
	}{
		{file: "v1beta1-timestamp.jsonl", lines: 2,
			want:      []string{"b1-1 2026-11-24T10:00:00Z timestamp false", "b1-2 2026-11-24T10:34:00Z timestamp false"},
			summaries: []string{"(no requestReceivedTimestamp: timed 2 by timestamp)"}},
		{file: "creation-timestamp-only.jsonl", lines: 1,
			want: []string{"m-1 2026-11-24T10:00:05Z metadata.creationTimestamp false"}},
		{file: "odd-timestamps.jsonl", lines: 3,
			want: []string{"t-epoch 2026-11-24T10:00:07.25Z requestReceivedTimestamp true", "t-space 2026-11-24T10:00:06.5Z requestReceivedTimestamp true"},
			skip: map[string]int64{audit.SkipNoTime: 1}, problem: `odd-timestamps.jsonl:3: no usable timestamp: none of requestReceivedTimestamp, stageTimestamp, timestamp, metadata.creationTimestamp is an RFC 3339 time (got "11/24/2026 10:00")`},
		{file: "incomplete.jsonl", lines: 2,
			skip: map[string]int64{audit.SkipIncomplete: 2}, problem: "incomplete.jsonl:1: incomplete audit event: no auditID"},
		{file: "aks-log-object.json", lines: 1,
			want: []string{"aks-obj-1 2026-11-24T10:00:00.1Z requestReceivedTimestamp true", "aks-str-1 2026-11-24T10:00:01Z requestReceivedTimestamp true"}},
		{file: "pretty.json", lines: 35, want: []string{"pretty-1 2026-11-24T10:00:00Z requestReceivedTimestamp true"},
			summaries: []string{"read 35 lines", "from 1 input in", ": 1 event, 1 used"}},
		// jq's output: pretty-printed events one after the other, one
		// without an auditID, the last cut in the middle.
		{file: "jq-stream.json", lines: 125,
			want: []string{"jq-1 2026-11-24T10:00:01Z requestReceivedTimestamp true", "jq-3 2026-11-24T10:00:03Z requestReceivedTimestamp true"},
			skip: map[string]int64{audit.SkipIncomplete: 1, audit.SkipMalformed: 1}, problem: "jq-stream.json:36: incomplete audit event: no auditID"},
		// kube-apiserver's --audit-log-format=legacy: no stage time, so
		// no latency; the request's two stages count once.
		{file: "legacy.log", lines: 5,
			want: []string{"6b1f2c7e-0d6a-4d7b-9a51-0a1c3e5f7a01 2026-11-24T10:00:00.1Z requestReceivedTimestamp false", "6b1f2c7e-0d6a-4d7b-9a51-0a1c3e5f7a02 2026-11-24T08:00:01.5Z requestReceivedTimestamp false",
				"6b1f2c7e-0d6a-4d7b-9a51-0a1c3e5f7a03 2026-11-24T10:00:02Z requestReceivedTimestamp false", "6b1f2c7e-0d6a-4d7b-9a51-0a1c3e5f7a04 2026-11-24T10:00:03Z requestReceivedTimestamp false"}},
		// bzip2, which some archives of old logs use.
		{file: "bzip2.jsonl.bz2", lines: 2,
			want: []string{"bz-1 2026-11-24T10:00:05Z requestReceivedTimestamp true", "bz-2 2026-11-24T10:00:06Z requestReceivedTimestamp true"}},
		// A byte order mark before the first event.
		{file: "bom.jsonl", lines: 2,
			want: []string{"jq-5 2026-11-24T10:00:05Z requestReceivedTimestamp true", "jq-6 2026-11-24T10:00:06Z requestReceivedTimestamp true"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := sources.ResolveInputs([]string{"testdata/shapes/" + tt.file}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 2} {
				var got []string
				st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: in, Workers: workers},
					func() audit.Sink {
						return audit.SinkFunc(func(e *audit.Event) {
							if e.Received.Year() < 2000 {
								t.Errorf("%s placed in %d", e.AuditID, e.Received.Year())
							}
							got = append(got, strings.Join([]string{e.AuditID, e.Received.Format(time.RFC3339Nano), e.TimeFrom(), map[bool]string{true: "true", false: "false"}[e.HasLatency()]}, " "))
						})
					})
				if err != nil && len(tt.want) > 0 {
					t.Fatal(err)
				}
				sort.Strings(got)
				if strings.Join(got, "|") != strings.Join(tt.want, "|") {
					t.Errorf("events\n got %q\nwant %q", got, tt.want)
				}
				for r, n := range tt.skip {
					if st.Skipped[r] != n {
						t.Errorf("skipped[%q] = %d, want %d (%v)", r, st.Skipped[r], n, st.Skipped)
					}
				}
				if tt.problem != "" && (len(st.Problems) == 0 || !strings.HasSuffix(st.Problems[0].String(), tt.problem)) {
					t.Errorf("problems %v, want first to end with %q", st.Problems, tt.problem)
				}
				if st.Lines != tt.lines {
					t.Errorf("lines = %d, want %d", st.Lines, tt.lines)
				}
				for _, s := range tt.summaries {
					if !strings.Contains(st.Summary(), s) {
						t.Errorf("summary %q lacks %q", st.Summary(), s)
					}
				}
			}
		})
	}
}

// TestUnsupportedCompression: an input in a format that is not read is
// named with what to do, not read as lines of binary.
func TestUnsupportedCompression(t *testing.T) {
	dir := t.TempDir()
	for name, b := range map[string][]byte{
		"audit.log.xz":  {0xfd, '7', 'z', 'X', 'Z', 0, 1, 2, 3},
		"audit.log.lz4": {0x04, 0x22, 0x4d, 0x18, 1, 2},
		"logs.zip":      []byte("PK\x03\x04rest"),
		"logs.7z":       {'7', 'z', 0xbc, 0xaf, 0x27, 0x1c, 0},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			in, err := sources.ResolveInputs([]string{p}, nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: in}, func() audit.Sink { return audit.SinkFunc(func(*audit.Event) {}) })
			if err == nil || len(st.Problems) != 1 || st.Problems[0].Reason != audit.SkipUnreadable ||
				!strings.Contains(st.Problems[0].String(), name+" (byte 0): unreadable input: ") || st.Lines != 0 {
				t.Errorf("err %v, problems %v, %d lines", err, st.Problems, st.Lines)
			}
		})
	}
}

// TestOneInputWithoutEvents: among inputs that hold events, one that holds
// none is a warning, not the end of the run; alone it is an error.
func TestOneInputWithoutEvents(t *testing.T) {
	read := func(files ...string) (*sources.Stats, error) {
		in, err := sources.ResolveInputs(files, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sources.Read(context.Background(), sources.ReadOptions{Inputs: in, Workers: 2}, func() audit.Sink { return audit.SinkFunc(func(*audit.Event) {}) })
	}
	st, err := read("testdata/shapes/not-audit.json", "testdata/shapes/pretty.json")
	if err != nil {
		t.Fatalf("err = %v, want the good input read", err)
	}
	if st.Used != 1 || len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "testdata/shapes/not-audit.json: no audit events found") {
		t.Errorf("used %d, warnings %q", st.Used, st.Warnings)
	}
	if st.SkippedTotal() != 1 {
		t.Errorf("skipped %d, want 1 (so --strict fails)", st.SkippedTotal())
	}
	if _, err := read("testdata/shapes/not-audit.json"); err == nil || !strings.Contains(err.Error(), "no audit events found") {
		t.Errorf("alone: err = %v", err)
	}
}
