package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/e2e/auditlog"
	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
	"github.com/kubectl-audit/kubectl-audit/e2e/scenarios"
)

// buildPlugin builds kubectl-audit from the parent module.
func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kubectl-audit")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-audit")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build kubectl-audit: %v\n%s", err, out)
	}
	return bin
}

func runPlugin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl-audit %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

type whyJSON struct {
	Summary string `json:"summary"`
	Created *struct {
		User string `json:"user"`
	} `json:"created"`
	Deleted *struct {
		User string `json:"user"`
	} `json:"deleted"`
	Owned   []struct{ Resource, Name string } `json:"owned"`
	Entries []struct {
		Verb        string `json:"verb"`
		Subresource string `json:"subresource"`
		User        string `json:"user"`
		Relation    string `json:"relation"`
		Changes     []struct {
			Path, From, To string
		} `json:"changes"`
	} `json:"entries"`
	LiveAuthorization []struct {
		Kind, Namespace, Name, State string
	} `json:"liveAuthorization"`
	Live *struct {
		State   string `json:"state"`
		Reason  string `json:"reason"`
		Summary string `json:"summary"`
	} `json:"live"`
}

// TestWhy runs `kubectl audit why` on the log a real apiserver wrote while
// the scenarios ran, linked to the live control plane.
func TestWhy(t *testing.T) {
	cp := controlplane.Start(t)
	keepArtifacts(t, cp)
	bin := buildPlugin(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := scenarios.RunAll(ctx, cp, nil); err != nil {
		t.Fatalf("scenarios: %v", err)
	}
	// Read a snapshot: the apiserver keeps writing (our own lookups too).
	snapshot := filepath.Join(t.TempDir(), "audit.log")
	data, err := os.ReadFile(cp.AuditLogPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snapshot, data, 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"-f", snapshot, "-q", "--kubeconfig", cp.KubeconfigPath}

	t.Run("checkout", func(t *testing.T) {
		table := runPlugin(t, bin, append([]string{"why", "deployment/checkout", "-n", "shop"}, common...)...)
		first, _, _ := strings.Cut(table, "\n")
		if !strings.HasPrefix(first, "deployment shop/checkout: deleted ") || !strings.Contains(first, " by alice (from ") {
			t.Errorf("first line %q does not say alice deleted it", first)
		}
		if !strings.Contains(table, "now: gone (not found)") {
			t.Errorf("last line does not say the deployment is gone:\n%s", table)
		}
		var res whyJSON
		out := runPlugin(t, bin, append([]string{"why", "deploy", "checkout", "-n", "shop", "-o", "json"}, common...)...)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if res.Created == nil || res.Created.User != "kubernetes-admin" || res.Deleted == nil || res.Deleted.User != "alice" {
			t.Errorf("created %+v deleted %+v", res.Created, res.Deleted)
		}
		var writes []string
		for _, e := range res.Entries {
			if e.Subresource != "" {
				continue
			}
			w := e.Verb + " by " + e.User
			for _, c := range e.Changes {
				w += "; " + c.Path + ": " + c.From + " -> " + c.To
			}
			writes = append(writes, w)
		}
		want := []string{
			"create by kubernetes-admin; spec.replicas:  -> 1; spec.template.spec.containers[checkout].image:  -> registry.example.com/checkout:1.8.0",
			"patch by alice; spec.replicas: 1 -> 3",
			"patch by bob; spec.template.spec.containers[checkout].image: registry.example.com/checkout:1.8.0 -> registry.example.com/checkout:1.9.0-rc1",
			"delete by alice; propagationPolicy:  -> Background",
		}
		if strings.Join(writes, "\n") != strings.Join(want, "\n") {
			t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(writes, "\n"), strings.Join(want, "\n"))
		}
		if res.Live == nil || res.Live.State != "gone" {
			t.Errorf("live = %+v, want gone", res.Live)
		}
		found := false
		for _, l := range res.LiveAuthorization {
			if l.Kind == "RoleBinding" && l.Namespace == "shop" && l.Name == "developers-deployer" && l.State == "linked" {
				found = true
			}
		}
		if !found {
			t.Errorf("live authorization %+v lacks RoleBinding shop/developers-deployer", res.LiveAuthorization)
		}
	})

	t.Run("web owners", func(t *testing.T) {
		var res whyJSON
		out := runPlugin(t, bin, append([]string{"why", "deploy/web", "-n", "demo", "--owners", "-o", "json"}, common...)...)
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		rs, pods := 0, 0
		for _, o := range res.Owned {
			switch {
			case o.Resource == "replicasets.apps" && strings.HasPrefix(o.Name, "web-"):
				rs++
			case o.Resource == "pods" && strings.HasPrefix(o.Name, "web-"):
				pods++
			}
		}
		// create (2) → scale to 4 → new image: two ReplicaSets, at least 4 pods.
		if rs != 2 || pods < 4 {
			t.Errorf("owned: %d replicasets, %d pods; want 2 and at least 4: %+v", rs, pods, res.Owned)
		}
		owned := 0
		for _, e := range res.Entries {
			if e.Relation == "owned" {
				owned++
			}
		}
		if owned == 0 {
			t.Error("no calls of owned objects in the timeline")
		}
	})

	t.Run("live replicaset stuck terminating", func(t *testing.T) {
		out := runPlugin(t, bin, append([]string{"why", "rs/billing-api", "-n", "legacy"}, common...)...)
		if !strings.Contains(out, "now: exists") || !strings.Contains(out, "Terminating since") {
			t.Errorf("want the live replicaset, Terminating:\n%s", out)
		}
	})

	t.Run("the webhook that mutates the stuck pods, now", func(t *testing.T) {
		out := runPlugin(t, bin, append([]string{"why", "rs/billing-api", "-n", "legacy", "--owners"}, common...)...)
		if !strings.Contains(out, "mutated by (now): MutatingWebhookConfiguration sidecar-env-injector (linked") {
			t.Errorf("want the live webhook configuration:\n%s", out)
		}
	})

	// The lookups of the runs above, as the apiserver logged them: lists
	// only, at most one per resource type per run.
	events, err := auditlog.ReadFile(cp.AuditLogPath)
	if err != nil {
		t.Fatal(err)
	}
	perRun := map[string]int{}
	for _, e := range auditlog.Requests(events) {
		if !strings.HasPrefix(e.UserAgent, "kubectl-audit/") || e.ObjectRef == nil {
			continue
		}
		if e.Verb != "list" {
			t.Errorf("linker made a %s call on %s (want lists only)", e.Verb, e.Resource())
		}
		perRun[e.Resource()]++
	}
	// 5 linked runs above; each lists one resource type at most once.
	for res, n := range perRun {
		if n > 5 {
			t.Errorf("%s listed %d times in 5 runs", res, n)
		}
	}
	if len(perRun) == 0 {
		t.Error("no list call from kubectl-audit in the apiserver's audit log")
	}
}
