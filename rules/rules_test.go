package rules_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/rules"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.bad.yaml.errors golden files")

// TestBadFiles checks that each testdata/*.bad.yaml produces exactly the
// errors in its .errors file: all of them at once, with file:line:col and
// the rule id.
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, errs := rules.ParseAndCompile(f, data)
			if len(errs) == 0 {
				t.Fatal("no errors")
			}
			got := errs.Error() + "\n"
			golden := f + ".errors"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestGoodFile(t *testing.T) {
	data, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, errs := rules.ParseAndCompile("testdata/good.yaml", data)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(rs) != 2 || !rs[1].Override || rs[1].Enabled {
		t.Fatalf("rules = %+v", rs)
	}
	r := rs[0]
	c := r.Compiled()
	if r.Severity != rules.SeverityCritical || r.Needs != "RequestResponse" || !r.Window.Sliding() || r.Window.String() != "10m every 1m" {
		t.Errorf("rule = %+v", r)
	}
	if !c.MatchExact || len(c.Prefilter) != 2 {
		t.Errorf("prefilter %s exact=%v, want 2 exact terms", c.Prefilter, c.MatchExact)
	}
	if len(c.Aggs) != 3 || len(c.Peers) != 1 || len(c.Keys) != 2 || c.Keys[0].Field != "user" || c.Keys[1].Field != "" {
		t.Errorf("compiled = %+v", c)
	}
	if c.MinCount != 0 {
		t.Errorf("MinCount = %d, want 0 with peers", c.MinCount)
	}
}

// TestLoadOverrides: a user file disables a shipped rule and replaces
// another; an override of an unknown rule is an error.
func TestLoadOverrides(t *testing.T) {
	shipped, errs := rules.ParseAndCompile("builtin/x.yaml", []byte(`
- id: a
  title: a
  severity: low
  match: code == 401
  summary: a
- id: b
  title: b
  severity: low
  match: code == 403
  summary: b
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dir := t.TempDir()
	user := filepath.Join(dir, "mine.yaml")
	os.WriteFile(user, []byte("- id: a\n  enabled: false\n- id: b\n  title: mine\n  severity: high\n  match: code == 403\n  summary: mine\n"), 0o644)
	set, err := rules.Load(shipped, []string{user})
	if err != nil {
		t.Fatal(err)
	}
	if set.Get("a").Enabled || set.Get("b").Title != "mine" || len(set.Enabled()) != 1 {
		t.Errorf("set = %+v %+v", set.Get("a"), set.Get("b"))
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("- id: zzz\n  enabled: false\n"), 0o644)
	if _, err := rules.Load(shipped, []string{bad}); err == nil || !strings.Contains(err.Error(), `bad.yaml:1:3: rule "zzz": enabled: no such rule`) {
		t.Errorf("err = %v", err)
	}
}

func TestPrefilter(t *testing.T) {
	tests := []struct {
		match string
		want  string
		exact bool
	}{
		{`code == 401`, `code in [401]`, true},
		{`code >= 500`, `code in [500-other]`, true},
		{`verb in ["get", "list"] && resource != "leases"`, `verb in ["get", "list"], resource not in ["leases"]`, true},
		{`!(resource == "nodes" && node != "")`, `(resource not in ["nodes"]) or (user not node & not has-node)`, true},
		{`decision == "forbid" || code == 401`, `(decision in ["forbid"]) or (code in [401])`, true},
		{`user startsWith "system:serviceaccount:kube-system:"`, `user not none & not anonymous & not node & serviceaccount & system`, false},
		{`annotation("k8s.io/deprecated") == "true"`, `annotations k8s.io/deprecated`, false},
		{`annotation("x") != "" && latency >= 1`, `latency >= 1s, annotations x`, true},
		{`len(name) > 3`, `every event`, false},
		{`!(len(name) > 3)`, `every event`, false},
	}
	for _, tt := range tests {
		t.Run(tt.match, func(t *testing.T) {
			src := "- id: x\n  title: x\n  severity: low\n  match: '" + strings.ReplaceAll(tt.match, "'", "''") + "'\n  summary: x\n"
			rs, errs := rules.ParseAndCompile("x.yaml", []byte(src))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			c := rs[0].Compiled()
			if got := c.Prefilter.String(); got != tt.want || c.MatchExact != tt.exact {
				t.Errorf("prefilter %s exact=%v, want %s exact=%v", got, c.MatchExact, tt.want, tt.exact)
			}
		})
	}
}

// FuzzParse: no rule file may crash the loader.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/good.yaml", "testdata/expressions.bad.yaml", "testdata/windows.bad.yaml"} {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rules.ParseAndCompile("fuzz.yaml", data)
	})
}

// TestResidual: the residual match leaves out exactly the conjuncts the
// prefilter decides, and none when the prefilter is looser than they are
// (its terms merged past maxTerms).
func TestResidual(t *testing.T) {
	tests := []struct {
		name, match string
		want        string // "" for no residual
	}{
		{"fields then a body", `resource == "pods" && verb == "create" && code < 400 && get("requestObject.spec.hostPID") == true`, `(get("requestObject.spec.hostPID") == true)`},
		{"exact: no match to run", `resource == "pods" && verb in ["create", "update"]`, ""},
		{"nothing the prefilter decides", `userAgent contains "curl"`, ""},
		{"an inexact disjunction stays whole", `verb == "get" && (resource == "pods" || userAgent contains "curl")`, `(resource == "pods" || userAgent contains "curl")`},
		{"merged terms decide nothing", `(verb == "a" && resource == "x" || verb == "b" && resource == "y" || verb == "c" && resource == "z") && (namespace == "n1" && subresource == "s1" || namespace == "n2" && subresource == "s2" || namespace == "n3" && subresource == "s3") && userAgent contains "curl"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fmt.Sprintf("- id: r\n  title: t\n  severity: low\n  match: '%s'\n  summary: s\n", tt.match)
			rs, errs := rules.ParseAndCompile("r.yaml", []byte(src))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			c := rs[0].Compiled()
			got := ""
			if c.Residual != nil {
				got = c.Residual.Source().String()
			}
			if got != tt.want {
				t.Errorf("residual of %s\n got %s\nwant %s (prefilter %s)", tt.match, got, tt.want, c.Prefilter)
			}
		})
	}
}
