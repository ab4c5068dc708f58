package cmd

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestPolicyLintGolden: one policy per trap, GKE's published policy, and
// the starting policy the README recommends (which must lint clean).
func TestPolicyLintGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"policy-lint-example", []string{"../examples/audit-policy.yaml"}, ExitOK},
		{"policy-lint-gke", []string{"testdata/policy/gke.yaml"}, ExitFindings},
		{"policy-lint-gke-json", []string{"testdata/policy/gke.yaml", "-o", "json"}, ExitFindings},
		{"policy-lint-gke-sarif", []string{"testdata/policy/gke.yaml", "-o", "sarif"}, ExitFindings},
		{"policy-lint-shadowed", []string{"testdata/policy/shadowed.yaml"}, ExitFindings},
		{"policy-lint-secrets", []string{"testdata/policy/secrets.yaml"}, ExitFindings},
		{"policy-lint-catch-all", []string{"testdata/policy/catch-all.yaml", "testdata/policy/no-catch-all.yaml"}, ExitFindings},
		{"policy-lint-groups", []string{"testdata/policy/groups.yaml"}, ExitFindings},
		{"policy-lint-stages", []string{"testdata/policy/stages.yaml"}, ExitFindings},
		{"policy-lint-blind", []string{"testdata/policy/blind.yaml"}, ExitFindings},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runCmd(t, "", append([]string{"policy", "lint"}, tc.args...)...)
			if got := ExitCode(err); got != tc.code {
				t.Fatalf("exit code %d, want %d (%v)\n%s", got, tc.code, err, errOut)
			}
			golden(t, tc.name, out)
		})
	}
}

// TestPolicyLintErrors: policies that do not parse fail with exit code 1
// and every problem at its file:line:col.
func TestPolicyLintErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"unknown-field.yaml", []string{
			`testdata/policy/unknown-field.yaml:5:5: unknown field "rules[0].resource": kube-apiserver would ignore it (with a warning); did you mean "resources"?`,
			`testdata/policy/unknown-field.yaml:9:5: duplicate field "verbs": kube-apiserver would keep the last one`}},
		{"invalid.yaml", []string{
			`testdata/policy/invalid.yaml:3:14: omitStages[0]: Invalid value: "RequestRecieved"`,
			`testdata/policy/invalid.yaml:5:12: rules[0].level: Unsupported value: "Everything"`,
			`testdata/policy/invalid.yaml:7:23: rules[1].nonResourceURLs[0]: Invalid value: "/api/*/x"`}},
		{"v1beta1.yaml", []string{`testdata/policy/v1beta1.yaml:1:13: audit.k8s.io/v1beta1 was removed in Kubernetes 1.24`}},
		{"wrong-type.yaml", []string{`testdata/policy/wrong-type.yaml:6:12: rules[1].verbs: want a list, got a string`}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, _, err := runCmd(t, "", "policy", "lint", "testdata/policy/"+tc.file)
			if err == nil || ExitCode(err) != ExitError {
				t.Fatalf("want an error with exit code 1, got %v (code %d)", err, ExitCode(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%s", w, err)
				}
			}
		})
	}
}

func TestPolicyLintFailOn(t *testing.T) {
	for _, tc := range []struct {
		failOn string
		code   int
	}{{"critical", ExitOK}, {"high", ExitOK}, {"low", ExitFindings}, {"info", ExitFindings}} {
		t.Run(tc.failOn, func(t *testing.T) {
			_, _, err := runCmd(t, "", "policy", "lint", "testdata/policy/gke.yaml", "--fail-on", tc.failOn)
			if got := ExitCode(err); got != tc.code {
				t.Errorf("exit code %d, want %d (%v)", got, tc.code, err)
			}
		})
	}
	_, _, err := runCmd(t, "", "policy", "lint", "testdata/policy/gke.yaml", "--fail-on", "severe")
	var ec *ExitCodeError
	if err == nil || errors.As(err, &ec) || !strings.Contains(err.Error(), "--fail-on must be one of") {
		t.Errorf("--fail-on severe: got %v", err)
	}
}

// TestPolicySimulateGolden prices the starting policy and GKE's on the
// recorded example log.
func TestPolicySimulateGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"policy-simulate-example", []string{"../examples/audit-policy.yaml", "-f", exampleLog, "-q"}},
		{"policy-simulate-gke", []string{"testdata/policy/gke.yaml", "-f", exampleLog, "-q", "--limit", "5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runCmd(t, "", append([]string{"policy", "simulate"}, tc.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden(t, tc.name, out)
		})
	}
}

// TestPolicySimulateJSON checks the figures that follow from the log alone:
// the log's own totals are what it holds, whatever the policy.
func TestPolicySimulateJSON(t *testing.T) {
	out, _, err := runCmd(t, "", "policy", "simulate", "../examples/audit-policy.yaml", "-f", exampleLog, "-q", "-o", "json", "--workers", "2")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Total struct {
			Requests int64 `json:"requests"`
			Log      struct {
				Events int64 `json:"events"`
			} `json:"log"`
		} `json:"total"`
		ByLevel []struct {
			Key string `json:"key"`
			Log struct {
				Events int64 `json:"events"`
			} `json:"log"`
		} `json:"byLevel"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// The example log: 1625 events, 1515 requests (README's summary line).
	if res.Total.Log.Events != 1625 || res.Total.Requests != 1515 {
		t.Errorf("total: %d events, %d requests; want 1625, 1515", res.Total.Log.Events, res.Total.Requests)
	}
	var sum int64
	for _, r := range res.ByLevel {
		sum += r.Log.Events
	}
	if sum != res.Total.Log.Events {
		t.Errorf("by level the log's events add up to %d, total %d", sum, res.Total.Log.Events)
	}
	one, _, err := runCmd(t, "", "policy", "simulate", "../examples/audit-policy.yaml", "-f", exampleLog, "-q", "-o", "json", "--workers", "1")
	if err != nil {
		t.Fatal(err)
	}
	if one != out {
		t.Error("1 and 2 workers give different results")
	}
}

func TestPolicySimulateFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"../examples/audit-policy.yaml", "-f", exampleLog, "--stage", "ResponseComplete"}, "--stage: simulate reads every stage"},
		{[]string{"../examples/audit-policy.yaml", "-f", exampleLog, "-o", "csv"}, "--output must be one of table, json, yaml"},
		{[]string{"testdata/policy/invalid.yaml", "-f", exampleLog}, "invalid.yaml:5:12: rules[0].level"},
		{[]string{"../examples/audit-policy.yaml"}, "no input"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, _, err := runCmd(t, "", append([]string{"policy", "simulate"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
