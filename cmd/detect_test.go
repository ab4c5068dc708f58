package cmd

import (
	"encoding/json"
	"strings"
	"testing"
)

// A copy of examples/audit.log.gz, the log a real control plane wrote (see
// examples/README.md), frozen so the golden files do not move when the
// example is recorded again.
const exampleLog = "testdata/real/audit.log.gz"

func TestDetectGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"detect-table", []string{"detect", "-f", exampleLog, "-q"}},
		{"detect-wide", []string{"detect", "-f", exampleLog, "-q", "-o", "wide"}},
		{"detect-json", []string{"detect", "-f", exampleLog, "-q", "-o", "json"}},
		{"detect-yaml-two-rules", []string{"detect", "-f", exampleLog, "-q", "-o", "yaml", "--rule", "rbac-denied", "--rule", "failed-authentication"}},
		{"detect-sarif", []string{"detect", "-f", exampleLog, "-q", "-o", "sarif", "--rule", "controller-invalid-update-loop"}},
		{"detect-user-rules", []string{"detect", "-f", exampleLog, "-q", "--rules", "testdata/rules"}},
		{"rules-list", []string{"rules", "list"}},
		{"rules-show", []string{"rules", "show", "failed-authentication"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runCmd(t, "", tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden(t, tc.name, out)
		})
	}
}

func TestDetectStderr(t *testing.T) {
	_, errOut, err := runCmd(t, "", "detect", "-f", exampleLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"cluster-admin-binding: blind: clusterrolebindings, rolebindings are logged at Metadata (64 events); the rule needs Request\n",
		"13 findings from 36 rules over 1515 requests (at most ",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestDetectFailOn(t *testing.T) {
	tests := []struct {
		failOn string
		code   int
	}{{"", ExitOK}, {"critical", ExitOK}, {"high", ExitFindings}, {"info", ExitFindings}}
	for _, tt := range tests {
		t.Run("fail-on="+tt.failOn, func(t *testing.T) {
			args := []string{"detect", "-f", exampleLog, "-q", "-o", "json"}
			if tt.failOn != "" {
				args = append(args, "--fail-on", tt.failOn)
			}
			out, _, err := runCmd(t, "", args...)
			if got := ExitCode(err); got != tt.code {
				t.Errorf("exit code %d, want %d (%v)", got, tt.code, err)
			}
			var res struct {
				Findings []json.RawMessage `json:"findings"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Findings) == 0 {
				t.Errorf("findings not printed before exiting: %v", err)
			}
		})
	}
}

func TestDetectWorkersAgree(t *testing.T) {
	var first string
	for _, w := range []string{"1", "2", "4"} {
		out, _, err := runCmd(t, "", "detect", "-f", exampleLog, "-q", "-o", "json", "--workers", w)
		if err != nil {
			t.Fatal(err)
		}
		var res map[string]any
		json.Unmarshal([]byte(out), &res)
		b, _ := json.Marshal(res)
		if first == "" {
			first = string(b)
		} else if string(b) != first {
			t.Errorf("--workers %s differs from --workers 1", w)
		}
	}
}

func TestDetectErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad output", []string{"detect", "-f", exampleLog, "-o", "xml"}, "--output must be one of table, wide, json, yaml, sarif"},
		{"bad fail-on", []string{"detect", "-f", exampleLog, "--fail-on", "urgent"}, `--fail-on must be one of info, low, medium, high, critical; got "urgent"`},
		{"unknown rule", []string{"detect", "-f", exampleLog, "--rule", "nope"}, `--rule: no rule "nope"`},
		{"bad rules file", []string{"detect", "-f", exampleLog, "--rules", "../rules/testdata/unknown-field.bad.yaml"}, `unknown-field.bad.yaml:4:3: rule "typo": unknown field "mtch" (did you mean "match"?)`},
		{"missing rules dir", []string{"detect", "-f", exampleLog, "--rules", "testdata/nope"}, "--rules: stat testdata/nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRulesLintAndTest(t *testing.T) {
	out, errOut, err := runCmd(t, "", "rules", "lint", "testdata/rules/mine.yaml")
	if err != nil || out != "2 rules in 1 files: OK\n" {
		t.Errorf("lint good: %v %q %q", err, out, errOut)
	}
	_, errOut, err = runCmd(t, "", "rules", "lint", "../rules/testdata/windows.bad.yaml")
	if ExitCode(err) != ExitError || !strings.Contains(errOut, `windows.bad.yaml:5:11: rule "windows": window size 10m must be a multiple of its slide 3m`) {
		t.Errorf("lint bad: %v %q", err, errOut)
	}
	out, _, err = runCmd(t, "", "rules", "test")
	if err != nil || strings.Count(out, "SUCCESS") != 3 {
		t.Errorf("shipped tests: %v\n%s", err, out)
	}
	out, _, err = runCmd(t, "", "rules", "test", "testdata/rules/mine_test.yaml")
	if ExitCode(err) != ExitError {
		t.Errorf("failing test file: exit %d, want 1", ExitCode(err))
	}
	want := `test "a failing expectation": rule traefik-anything: missing finding key={resourceKey="secrets", verb="get"} count=3`
	if !strings.Contains(out, "FAILED:") || !strings.Contains(out, want) || strings.Contains(out, "traefik lists services") {
		t.Errorf("test output:\n%s", out)
	}
	out, _, err = runCmd(t, "", "rules", "test", "testdata/rules/mine_test.yaml", "--run", "services")
	if err != nil || !strings.Contains(out, "SUCCESS (1 tests)") {
		t.Errorf("--run: %v\n%s", err, out)
	}
}
