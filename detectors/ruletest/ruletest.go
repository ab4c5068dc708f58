package ruletest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// File is a test file as written.
type File struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []Test   `yaml:"tests"`
}

// Test is one case.
type Test struct {
	Name   string                `yaml:"name"`
	Start  string                `yaml:"start"`
	Inputs []string              `yaml:"inputs"`
	Events []map[string]any      `yaml:"events"`
	Expect map[string][]Expected `yaml:"expect"`
}

// Expected is one finding a rule must produce. Count, Window, Values and
// Summary are checked only when given.
type Expected struct {
	Key     map[string]string `yaml:"key"`
	Count   *int64            `yaml:"count"`
	Window  string            `yaml:"window"`
	Values  map[string]any    `yaml:"values"`
	Summary string            `yaml:"summary"`
}

// DefaultStart is the time of "at: 0s".
var DefaultStart = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// Report is the outcome of one test file.
type Report struct {
	File string
	// Failures are the failed tests' messages, one per problem.
	Failures []string
	// Coverage: per rule, whether a test expects it to fire and whether
	// one expects it not to.
	Positive map[string]bool
	Negative map[string]bool
	Tests    int
}

// OK reports a file whose tests all passed.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// RunFile runs the tests of one file, read from fsys (rule files and
// inputs are resolved relative to it). run, when set, selects the tests
// whose name contains it.
func RunFile(fsys fs.FS, name string, run string) (*Report, error) {
	rep := &Report{File: name, Positive: map[string]bool{}, Negative: map[string]bool{}}
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var tf File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return nil, fmt.Errorf("%s: %v", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	dir := path.Dir(name)
	ruleFiles := tf.RuleFiles
	if len(ruleFiles) == 0 {
		base := strings.TrimSuffix(strings.TrimSuffix(path.Base(name), ".yaml"), ".yml")
		ruleFiles = []string{strings.TrimSuffix(base, "_test") + ".yaml"}
	}
	var all []*rules.Rule
	var errs rules.ErrorList
	for _, rf := range ruleFiles {
		p := path.Join(dir, rf)
		rdata, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("%s: rule_files: %v", name, err)
		}
		rs, perrs := rules.ParseAndCompile(p, rdata)
		errs = append(errs, perrs...)
		all = append(all, rs...)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	byID := map[string]*rules.Rule{}
	for _, r := range all {
		byID[r.ID] = r
	}
	if len(tf.Tests) == 0 {
		return nil, fmt.Errorf("%s: no tests", name)
	}
	for i, t := range tf.Tests {
		tname := t.Name
		if tname == "" {
			tname = fmt.Sprintf("unnamed#%d", i)
		}
		if run != "" && !strings.Contains(tname, run) {
			continue
		}
		rep.Tests++
		for id, exp := range t.Expect {
			if byID[id] == nil {
				rep.Failures = append(rep.Failures, fmt.Sprintf("test %q: expect: no rule %q in %s", tname, id, strings.Join(ruleFiles, ", ")))
				continue
			}
			if len(exp) == 0 {
				rep.Negative[id] = true
			} else {
				rep.Positive[id] = true
			}
		}
		if len(t.Expect) == 0 {
			rep.Failures = append(rep.Failures, fmt.Sprintf("test %q: expects nothing: list rules with their findings ([] for none)", tname))
			continue
		}
		res, err := runTest(fsys, dir, t, all)
		if err != nil {
			rep.Failures = append(rep.Failures, fmt.Sprintf("test %q: %v", tname, err))
			continue
		}
		for _, id := range sortedIDs(t.Expect) {
			if byID[id] == nil {
				continue
			}
			for _, msg := range compare(id, t.Expect[id], res.Findings) {
				rep.Failures = append(rep.Failures, fmt.Sprintf("test %q: rule %s: %s", tname, id, msg))
			}
		}
	}
	return rep, nil
}

func sortedIDs(m map[string][]Expected) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Run runs rules over a test's inputs and events.
func runTest(fsys fs.FS, dir string, t Test, all []*rules.Rule) (*detectors.Result, error) {
	start := DefaultStart
	if t.Start != "" {
		s, ok := audit.ParseTime(t.Start)
		if !ok {
			return nil, fmt.Errorf("start: %q is not an RFC 3339 time", t.Start)
		}
		start = s
	}
	var inputs []sources.Input
	for _, in := range t.Inputs {
		p := path.Join(dir, in)
		inputs = append(inputs, sources.Input{Name: p, Open: func() (io.ReadCloser, error) { return fsys.Open(p) }})
	}
	if len(t.Events) > 0 {
		lines, err := Events(t.Events, start)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, sources.Input{Name: "events", Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(lines)), nil
		}})
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("no inputs and no events")
	}
	var enabled []*rules.Rule
	for _, r := range all {
		if r.Enabled {
			enabled = append(enabled, r)
		}
	}
	eng, err := detectors.New(enabled, detectors.Options{Streaming: sources.TimeOrdered(inputs)})
	if err != nil {
		return nil, err
	}
	ro := sources.ReadOptions{Inputs: inputs, Workers: 2, ChunkSize: 1 << 16}
	if _, err := sources.Read(context.Background(), ro, eng.NewSink); err != nil {
		return nil, err
	}
	return eng.Finish(), nil
}

// compare checks a rule's findings against the expected set.
func compare(id string, exp []Expected, all []detectors.Finding) []string {
	var got []detectors.Finding
	for _, f := range all {
		if f.Rule == id {
			got = append(got, f)
		}
	}
	used := make([]bool, len(got))
	var msgs []string
	for _, e := range exp {
		found := -1
		var near []string
		for j, f := range got {
			if used[j] || !keyEqual(e.Key, f.Key) {
				continue
			}
			if e.Window != "" && (f.WindowStart == nil || f.WindowStart.Format(time.RFC3339) != e.Window) {
				continue
			}
			if diffs := details(e, f); len(diffs) > 0 {
				near = append(near, strings.Join(diffs, "; "))
				continue
			}
			found = j
			break
		}
		if found < 0 {
			msg := "missing finding " + describeExpected(e)
			if len(near) > 0 {
				msg += ": a finding with that key has " + strings.Join(near, " / ")
			}
			msgs = append(msgs, msg)
			continue
		}
		used[found] = true
	}
	for j, f := range got {
		if !used[j] {
			msgs = append(msgs, "unexpected finding "+describeFinding(f))
		}
	}
	return msgs
}

func details(e Expected, f detectors.Finding) []string {
	var diffs []string
	if e.Count != nil && *e.Count != f.Count {
		diffs = append(diffs, fmt.Sprintf("count %d, want %d", f.Count, *e.Count))
	}
	if e.Summary != "" && e.Summary != f.Summary {
		diffs = append(diffs, fmt.Sprintf("summary %q, want %q", f.Summary, e.Summary))
	}
	for k, want := range e.Values {
		got, ok := f.Values[k]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("no value %s", k))
			continue
		}
		if !sameValue(got, want) {
			diffs = append(diffs, fmt.Sprintf("value %s = %s, want %s", k, jsonString(got), jsonString(want)))
		}
	}
	return diffs
}

// sameValue compares through JSON, so YAML's ints match float64 and []any
// matches []string.
func sameValue(a, b any) bool {
	return jsonString(a) == jsonString(b)
}

func jsonString(v any) string {
	b, err := json.Marshal(normalize(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// normalize makes numbers float64 rounded to 10 significant digits, so
// 0.7999999999999999 matches 0.8.
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		f, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 10, 64), 64)
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	}
	return v
}

func keyEqual(want, got map[string]string) bool {
	if len(want) != len(got) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

func describeExpected(e Expected) string {
	s := "key=" + keyString(e.Key)
	if e.Count != nil {
		s += fmt.Sprintf(" count=%d", *e.Count)
	}
	if e.Window != "" {
		s += " window=" + e.Window
	}
	return s
}

func describeFinding(f detectors.Finding) string {
	s := fmt.Sprintf("key=%s count=%d", keyString(f.Key), f.Count)
	if f.WindowStart != nil {
		s += " window=" + f.WindowStart.Format(time.RFC3339)
	}
	return s + fmt.Sprintf(" (%s)", f.Summary)
}

func keyString(k map[string]string) string {
	names := make([]string, 0, len(k))
	for n := range k {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%q", n, k[n])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
