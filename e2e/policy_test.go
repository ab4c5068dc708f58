package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

var updateResources = flag.Bool("update-resources", false, "rewrite ../policy/builtin-resources.txt from the live apiserver's discovery")

// builtinResourcesFile is the table `policy lint` checks resource names
// against when no cluster is reachable.
const builtinResourcesFile = "../policy/builtin-resources.txt"

// TestPolicyBuiltinResources keeps the plugin's table of built-in resources
// equal to what a real kube-apiserver serves: every group, resource and
// subresource of its discovery, in any version.
func TestPolicyBuiltinResources(t *testing.T) {
	cp := startPolicyControlPlane(t, controlplane.AuditPolicy)
	_, lists, err := cp.Client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	seen := map[string]bool{}
	for _, l := range lists {
		gv := strings.SplitN(l.GroupVersion, "/", 2)
		group := ""
		if len(gv) == 2 {
			group = gv[0]
		}
		if group == "" {
			group = "core"
		}
		for _, r := range l.APIResources {
			seen[group+" "+r.Name] = true
		}
	}
	var lines []string
	for l := range seen {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	want := "# Every group, resource and subresource kube-apiserver v1.37.2 serves (discovery, all\n" +
		"# versions), as `group resource`; core is the group \"\". Written by\n" +
		"# `cd e2e && go test -run TestPolicyBuiltinResources -args -update-resources`.\n" +
		strings.Join(lines, "\n") + "\n"
	if *updateResources {
		if err := os.WriteFile(builtinResourcesFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(builtinResourcesFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s differs from the apiserver's discovery (go test -run TestPolicyBuiltinResources -args -update-resources):\n%s",
			builtinResourcesFile, lineDiff(string(got), want))
	}
}

// startPolicyControlPlane starts etcd and a kube-apiserver (no controller
// manager: the only clients are the test's and the apiserver's own) with
// the given audit policy.
func startPolicyControlPlane(t *testing.T, policy string) *controlplane.ControlPlane {
	t.Helper()
	if v := os.Getenv(controlplane.SkipEnv); v != "" && v != "0" {
		t.Skipf("%s=%s: skipping the end-to-end test that needs a real control plane", controlplane.SkipEnv, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	cp, err := controlplane.New(ctx, controlplane.Options{Dir: t.TempDir(), Log: os.Stderr, AuditPolicy: policy, NoControllerManager: true})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	return cp
}

// lineDiff lists the lines only in a (-) and only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return fmt.Sprint(strings.Join(out, "\n"))
}
