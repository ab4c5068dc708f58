package cmd

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTopAndDetectAgree: top and detect count the same requests, once
// each, for any input: the real log; the same log with the policy's
// omitStages: [ResponseStarted] (long-running requests have only their
// ResponseComplete); its second half alone (watches whose ResponseStarted
// was in an earlier file); the odd shapes of sources/testdata/shapes.
func TestTopAndDetectAgree(t *testing.T) {
	dir := t.TempDir()
	lines := readGzipLines(t, "testdata/real/audit.log.gz")
	var noStarted []string
	for _, l := range lines {
		if !strings.Contains(l, `"stage":"ResponseStarted"`) {
			noStarted = append(noStarted, l)
		}
	}
	write := func(name string, ls []string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(ls, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inputs := map[string][]string{
		"real":            {"testdata/real/audit.log.gz"},
		"omit-started":    {write("omit.log", noStarted)},
		"second-half":     {write("half.log", lines[len(lines)/2:])},
		"odd-shapes":      {"../sources/testdata/shapes/"},
		"two-overlapping": {"testdata/real/audit.log.gz", write("omit2.log", noStarted)},
	}
	for name, files := range inputs {
		t.Run(name, func(t *testing.T) {
			var args []string
			for _, f := range files {
				args = append(args, "-f", f)
			}
			for _, workers := range []string{"1", "3"} {
				out, errOut, err := runCmd(t, "", append([]string{"top", "-q", "--no-link", "-o", "json", "--workers", workers}, args...)...)
				if err != nil {
					t.Fatalf("top: %v\n%s", err, errOut)
				}
				var top struct {
					Total struct{ Count int64 } `json:"total"`
				}
				if err := json.Unmarshal([]byte(out), &top); err != nil {
					t.Fatal(err)
				}
				out, errOut, err = runCmd(t, "", append([]string{"detect", "-q", "--no-link", "-o", "json", "--workers", workers}, args...)...)
				if err != nil {
					t.Fatalf("detect: %v\n%s", err, errOut)
				}
				var det struct {
					Events int64 `json:"events"`
				}
				if err := json.Unmarshal([]byte(out), &det); err != nil {
					t.Fatal(err)
				}
				if top.Total.Count == 0 || top.Total.Count != det.Events {
					t.Errorf("workers %s: top counts %d requests, detect %d", workers, top.Total.Count, det.Events)
				}
			}
		})
	}
}

func readGzipLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
