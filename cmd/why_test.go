package cmd

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestWhyGolden(t *testing.T) {
	const log = "testdata/real/audit.log.gz"
	tests := []struct {
		name string
		args []string
	}{
		{"checkout", []string{"deployment/checkout", "-n", "shop"}},
		{"checkout-json", []string{"deploy", "checkout", "-n", "shop", "-o", "json"}},
		{"checkout-yaml", []string{"deployments.apps/checkout", "-n", "shop", "-o", "yaml"}},
		{"web-owners", []string{"deploy/web", "-n", "demo", "--owners"}},
		{"billing-422", []string{"rs/billing-api", "-n", "legacy", "--owners"}},
		{"configmap-reads", []string{"cm/cluster-settings", "-n", "node-config", "--with-reads"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"why", "-f", log, "-q", "--no-link"}, tt.args...)
			out, errOut, err := runCmd(t, "", args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			golden(t, "why-"+tt.name, out)
		})
	}
}

func TestWhyJSONStable(t *testing.T) {
	out, _, err := runCmd(t, "", "why", "-f", "testdata/real/audit.log.gz", "-q", "--no-link", "deploy/checkout", "-n", "shop", "-o", "json", "--workers", "3")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Summary string `json:"summary"`
		Deleted struct {
			User string `json:"user"`
		} `json:"deleted"`
		Entries []struct {
			Verb    string `json:"verb"`
			User    string `json:"user"`
			Changes []struct {
				Path, From, To string
			} `json:"changes"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Deleted.User != "alice" {
		t.Errorf("deleted by %q, want alice", res.Deleted.User)
	}
	found := false
	for _, e := range res.Entries {
		if e.User == "alice" && e.Verb == "patch" && len(e.Changes) == 1 && e.Changes[0].Path == "spec.replicas" && e.Changes[0].From == "1" && e.Changes[0].To == "3" {
			found = true
		}
	}
	if !found {
		t.Errorf("no alice patch spec.replicas 1 → 3 in %s", out)
	}
}

func TestWhyErrors(t *testing.T) {
	const log = "testdata/real/audit.log.gz"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no such object", []string{"deploy/nope", "-n", "shop", "--no-link"}, `no calls to deployment shop/nope in the audit log`},
		{"bad type", []string{"frobs/x", "--no-link"}, `unknown resource type "frobs"`},
		{"bad args", []string{"deployment", "--no-link"}, "want TYPE/NAME or TYPE NAME"},
		{"bad output", []string{"deploy/checkout", "-n", "shop", "-o", "csv", "--no-link"}, "--output must be one of table, json, yaml"},
		{"no input", []string{"deploy/checkout"}, "no input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"why"}
			if tt.name != "no input" {
				args = append(args, "-f", log, "-q")
			}
			_, _, err := runCmd(t, "", append(args, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// Without a kubeconfig the last line says why the object is not linked.
func TestWhyNoCluster(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-kubeconfig")
	t.Setenv("KUBECONFIG", missing)
	out, _, err := runCmd(t, "", "why", "-f", "testdata/real/audit.log.gz", "-q", "deploy/checkout", "-n", "shop")
	if err != nil {
		t.Fatal(err)
	}
	want := "now: deleted at 2026-11-25T05:42:39Z by alice according to the log; not linked: no cluster"
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// TestWhyScope: the scope of a custom resource named without discovery is
// learned from the log, and -n (even -n ”) decides when given.
func TestWhyScope(t *testing.T) {
	const log = "../why/testdata/shapes.jsonl"
	tests := []struct {
		name    string
		args    []string
		want    string // in the output
		wantErr string
	}{
		{"cluster-scoped, no -n", []string{"clusteroperators.config.openshift.io/dns"}, "clusteroperators.config.openshift.io dns: last changed", ""},
		{"cluster-scoped, -n ''", []string{"clusteroperators.config.openshift.io/dns", "-n", ""}, "clusteroperators.config.openshift.io dns: last changed", ""},
		{"cluster-scoped, wrong -n", []string{"clusteroperators.config.openshift.io/dns", "-n", "default"}, "", "no calls to"},
		{"namespaced, no -n", []string{"widgets.example.com/w"}, "team-a/w", ""},
		{"legacy group", []string{"deployments.extensions/nginx", "-n", "demo"}, "deployment demo/nginx", ""},
		{"namespace", []string{"ns/kube-system", "-f", "testdata/real/audit.log.gz", "--with-reads"}, "namespace kube-system", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"why", "-f", log, "-q", "--no-link"}, tt.args...)
			out, errOut, err := runCmd(t, "", args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}
