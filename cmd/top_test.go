package cmd

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

var update = flag.Bool("update", false, "rewrite golden files")

// runCmd runs kubectl audit with args and returns stdout, stderr and error.
func runCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	in := strings.NewReader(stdin)
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	root := NewCmdAudit(genericiooptions.IOStreams{In: in, Out: out, ErrOut: errOut})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./cmd -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestTopGolden(t *testing.T) {
	const log = "testdata/audit.log"
	tests := []struct {
		name string
		args []string
	}{
		{"overview", nil},
		{"by-user", []string{"--by", "user"}},
		{"by-group", []string{"--by", "group"}},
		{"by-useragent", []string{"--by", "useragent"}},
		{"by-raw-useragent", []string{"--by", "useragent", "--raw-useragent", "--limit", "5"}},
		{"by-verb", []string{"--by", "verb"}},
		{"by-resource", []string{"--by", "resource"}},
		{"by-namespace", []string{"--by", "namespace"}},
		{"by-name", []string{"--by", "name", "--limit", "8"}},
		{"by-code", []string{"--by", "code"}},
		{"by-decision", []string{"--by", "decision"}},
		{"by-sourceip", []string{"--by", "sourceip", "--limit", "8"}},
		{"by-node", []string{"--by", "node", "--limit", "8"}},
		{"by-serviceaccount", []string{"--by", "serviceaccount"}},
		{"by-expr", []string{"--by", `expr:verb + " " + resource`, "--limit", "6"}},
		{"by-resource-verb", []string{"--by", "resource,verb", "--limit", "10"}},
		{"wide", []string{"--by", "resource", "-o", "wide"}},
		{"latency", []string{"--by", "user", "--latency", "--sort", "p99", "--limit", "5"}},
		{"sort-errors", []string{"--by", "user", "--sort", "error%", "--limit", "6"}},
		{"sort-p99", []string{"--by", "resource", "--sort", "p99"}},
		{"sort-key", []string{"--by", "verb", "--sort", "key"}},
		{"limit-all", []string{"--by", "code", "--limit", "0"}},
		{"every", []string{"--by", "code", "--every", "2s"}},
		{"where-403", []string{"--by", "user", "--where", "code == 403"}},
		{"where-list", []string{"--by", "resource", "--where", `verb == "list" && code < 400`}},
		{"json", []string{"--by", "code", "-o", "json"}},
		{"yaml", []string{"--by", "verb", "-o", "yaml", "--limit", "3"}},
		{"csv", []string{"--by", "user,code", "-o", "csv", "--limit", "5", "--every", "5s"}},
		{"stage-started", []string{"--by", "verb", "--stage", "ResponseStarted"}},
		{"max-groups", []string{"--by", "name", "--max-groups", "20", "--workers", "1", "--limit", "5"}},
		{"since-until", []string{"--by", "code", "--since", "2026-11-24T10:00:01Z", "--until", "2026-11-24T10:00:05Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"top", "-f", log, "-q"}, tt.args...)
			out, errOut, err := runCmd(t, "", args...)
			if err != nil {
				t.Fatalf("%v\nstderr: %s", err, errOut)
			}
			golden(t, "top-"+tt.name, out)
		})
	}
}

func TestTopWorkersAgree(t *testing.T) {
	var outs []string
	for _, w := range []string{"1", "2", "5"} {
		out, _, err := runCmd(t, "", "top", "-f", "testdata/audit.log", "-q", "--by", "user,resource", "--every", "1s", "--latency", "-o", "json", "--workers", w)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, out)
	}
	if outs[0] != outs[1] || outs[0] != outs[2] {
		t.Error("top output depends on --workers")
	}
}

func TestTopErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no input", []string{"top"}, "no input"},
		{"unknown key", []string{"top", "-f", "testdata/audit.log", "--by", "usr"}, `--by: unknown key "usr"`},
		{"bad where", []string{"top", "-f", "testdata/audit.log", "--where", "code >= 400 && verbb == 'list'"}, "unknown name verbb (1:16)"},
		{"where not bool", []string{"top", "-f", "testdata/audit.log", "--where", "code"}, "expected bool"},
		{"bad sort", []string{"top", "-f", "testdata/audit.log", "--sort", "size"}, `--sort must be one of`},
		{"bad output", []string{"top", "-f", "testdata/audit.log", "-o", "xml"}, "--output must be one of"},
		{"bad since", []string{"top", "-f", "testdata/audit.log", "--since", "yesterday"}, `--since: "yesterday" is neither a duration`},
		{"since after until", []string{"top", "-f", "testdata/audit.log", "--since", "2026-11-25T00:00:00Z", "--until", "2026-11-24T00:00:00Z"}, "must be before --until"},
		{"bad stage", []string{"top", "-f", "testdata/audit.log", "--stage", "Done"}, `unknown stage "Done"`},
		{"bad plot", []string{"top", "-f", "testdata/audit.log", "--plot", "x.pdf"}, "want a .svg or .png"},
		{"missing file", []string{"top", "-f", "testdata/nope.log"}, "testdata/nope.log: no such file"},
		{"not audit", []string{"top", "-f", "testdata/golden"}, "no audit events found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if ExitCode(err) != ExitError {
				t.Errorf("exit code %d, want %d", ExitCode(err), ExitError)
			}
		})
	}
}

func TestTopStdinAndStrict(t *testing.T) {
	data, err := os.ReadFile("testdata/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	damaged := string(data) + "{not json\n"
	out, errOut, err := runCmd(t, damaged, "top", "-f", "-", "--by", "code", "--strict")
	if ExitCode(err) != ExitSkipped {
		t.Fatalf("exit code %d (%v), want %d", ExitCode(err), err, ExitSkipped)
	}
	if !strings.Contains(out, "CODE") {
		t.Errorf("output should still be printed under --strict:\n%s", out)
	}
	for _, want := range []string{"warning: -:462: malformed JSON", "1 skipped (1 malformed JSON)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestTopPlot(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"codes.svg", "codes.png"} {
		path := filepath.Join(dir, name)
		_, errOut, err := runCmd(t, "", "top", "-f", "testdata/audit.log", "-q", "--by", "code", "--every", "2s", "--plot", path)
		if err != nil {
			t.Fatalf("%v: %s", err, errOut)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if strings.HasSuffix(name, ".png") {
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != 500 {
				t.Errorf("PNG is %dx%d, want 1000x500", b.Dx(), b.Dy())
			}
			continue
		}
		var doc struct {
			Width     string `xml:"width,attr"`
			Height    string `xml:"height,attr"`
			Polylines []struct {
				Class string `xml:"class,attr"`
				Name  string `xml:"data-name,attr"`
			} `xml:"polyline"`
		}
		if err := xml.NewDecoder(f).Decode(&doc); err != nil {
			t.Fatalf("not valid SVG/XML: %v", err)
		}
		if doc.Width != "1000" || doc.Height != "500" {
			t.Errorf("SVG is %sx%s", doc.Width, doc.Height)
		}
		var names []string
		for _, p := range doc.Polylines {
			if p.Class == "series" {
				names = append(names, p.Name)
			}
		}
		if strings.Join(names, ",") != "200,201,403,401,422,409,404,500" && !strings.HasPrefix(strings.Join(names, ","), "200,201") {
			t.Errorf("series %v, want the codes by count", names)
		}
	}
}

// TestTopRealLog runs top on a log a real kube-apiserver v1.37.2 wrote while
// the e2e harness staged the talk's incidents (see examples/README.md), and
// checks that top finds what was staged.
func TestTopRealLog(t *testing.T) {
	const log = "testdata/real/audit.log.gz"
	type table struct {
		Rows []struct {
			Key    map[string]string `json:"key"`
			Count  int64             `json:"count"`
			Series []int64           `json:"series"`
		} `json:"rows"`
	}
	run := func(args ...string) table {
		t.Helper()
		out, errOut, err := runCmd(t, "", append([]string{"top", "-f", log, "-q", "-o", "json"}, args...)...)
		if err != nil {
			t.Fatalf("%v: %s", err, errOut)
		}
		var res struct {
			Tables []table `json:"tables"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		return res.Tables[0]
	}
	t.Run("the 5x kubelet ranks first by node", func(t *testing.T) {
		tb := run("--by", "node", "--where", `subresource == "status" && resource == "nodes"`)
		if got := tb.Rows[0].Key["node"]; got != "worker-3" {
			t.Errorf("first node %q, want worker-3", got)
		}
		if tb.Rows[0].Count < 3*tb.Rows[1].Count {
			t.Errorf("worker-3 %d requests, next %d: want at least 3x (the harness staged 5x its heartbeat rate)", tb.Rows[0].Count, tb.Rows[1].Count)
		}
	})
	t.Run("403s come from traefik", func(t *testing.T) {
		tb := run("--by", "user", "--where", "code == 403")
		if len(tb.Rows) == 0 || tb.Rows[0].Key["user"] != "system:serviceaccount:traefik:traefik" || tb.Rows[0].Count != 20 {
			t.Errorf("403 rows %+v, want traefik with 20", tb.Rows)
		}
	})
	t.Run("401s come from six addresses", func(t *testing.T) {
		tb := run("--by", "sourceip", "--where", "code == 401")
		var ips []string
		for _, r := range tb.Rows {
			ips = append(ips, r.Key["sourceip"])
		}
		sort.Strings(ips)
		if strings.Join(ips, ",") != "127.0.1.1,127.0.1.2,127.0.1.3,127.0.1.4,127.0.1.5,127.0.1.6" {
			t.Errorf("401 sources %v", ips)
		}
	})
	t.Run("the 422 loop over time", func(t *testing.T) {
		tb := run("--by", "code", "--every", "10s", "--where", "code == 422")
		if len(tb.Rows) != 1 {
			t.Fatalf("rows %+v", tb.Rows)
		}
		busy := 0
		for _, v := range tb.Rows[0].Series {
			if v > 0 {
				busy++
			}
		}
		if busy < 3 {
			t.Errorf("422s in %d of the 10s buckets (%v), want a loop spanning at least 3", busy, tb.Rows[0].Series)
		}
		gc := run("--by", "user", "--where", "code == 422")
		if gc.Rows[0].Key["user"] != "system:serviceaccount:kube-system:generic-garbage-collector" {
			t.Errorf("422s by %v, want the garbage collector", gc.Rows[0].Key)
		}
	})
	for _, by := range []string{"user", "useragent", "code", "node", "resource,verb"} {
		t.Run("golden "+by, func(t *testing.T) {
			out, _, err := runCmd(t, "", "top", "-f", log, "-q", "--by", by, "--limit", "12")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "real-top-"+strings.ReplaceAll(by, ",", "-"), out)
		})
	}
}
