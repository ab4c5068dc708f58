package e2e

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

type detectJSON struct {
	Findings []struct {
		Rule       string            `json:"rule"`
		Key        map[string]string `json:"key"`
		Count      int64             `json:"count"`
		LinkStatus string            `json:"linkStatus"`
		AuthErrors []string          `json:"authenticationErrors"`
		Links      []struct {
			Kind, Namespace, Name, State, Summary string
			Related                               []struct{ Kind, Namespace, Name, State string }
		} `json:"links"`
	} `json:"findings"`
}

// TestDetectLive runs `kubectl audit detect` on the real apiserver's log,
// linked to the live control plane, and checks each staged incident is
// found with the right subject and tied to the live objects behind it.
func TestDetectLive(t *testing.T) {
	cp, gt := liveRun(t)
	out, errOut, code := plugin(t, "detect", "-f", cp.AuditLogPath, "-o", "json", "--kubeconfig", cp.KubeconfigPath, "--apiserver-log", cp.APIServerLogPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res detectJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}

	t.Run("expired certificates link the four Nodes by address", func(t *testing.T) {
		want := map[string]string{}
		for _, n := range gt.ExpiredCerts.ExpiredNodes {
			want[n.Address] = n.Node
		}
		got := map[string]string{}
		for _, f := range res.Findings {
			if f.Rule != "failed-authentication" {
				continue
			}
			if _, expired := want[f.Key["sourceIP"]]; expired &&
				(len(f.AuthErrors) == 0 || !strings.Contains(f.AuthErrors[0], "x509: certificate has expired")) {
				t.Errorf("401s from %s: reasons %q, want the x509 expiry from the apiserver log", f.Key["sourceIP"], f.AuthErrors)
			}
			for _, l := range f.Links {
				if l.Kind == "Node" && l.State == "linked" {
					got[f.Key["sourceIP"]] = l.Name
				}
			}
		}
		for ip, node := range want {
			if got[ip] != node {
				t.Errorf("401s from %s linked to %q, want Node %s (all: %v)", ip, got[ip], node, got)
			}
		}
	})
	t.Run("the RBAC denial links traefik's ServiceAccount", func(t *testing.T) {
		found := false
		for _, f := range res.Findings {
			if f.Rule != "rbac-denied" || f.Key["user"] != "system:serviceaccount:traefik:traefik" {
				continue
			}
			for _, l := range f.Links {
				if l.Kind == "ServiceAccount" && l.Namespace == "traefik" && l.Name == "traefik" && l.State == "linked" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no rbac-denied finding linked to ServiceAccount traefik/traefik: %+v", res.Findings)
		}
	})
	t.Run("the GC loop names the live webhook configuration", func(t *testing.T) {
		var pods []string
		for _, f := range res.Findings {
			if f.Rule != "controller-invalid-update-loop" {
				continue
			}
			hooked := false
			for _, l := range f.Links {
				if l.Kind == "MutatingWebhookConfiguration" && l.Name == "sidecar-env-injector" && l.State == "linked" {
					hooked = true
				}
			}
			if !hooked {
				t.Errorf("%v: no link to MutatingWebhookConfiguration sidecar-env-injector: %+v", f.Key, f.Links)
			}
			pods = append(pods, f.Key["name"])
		}
		sort.Strings(pods)
		if len(pods) != 2 || !strings.HasPrefix(pods[0], "billing-api-") {
			t.Errorf("GC loop findings on %v, want the two billing-api pods", pods)
		}
	})
	t.Run("the fast kubelet links its Node", func(t *testing.T) {
		for _, f := range res.Findings {
			if f.Rule == "node-request-rate-outlier" && f.Key["node"] == "worker-3" {
				for _, l := range f.Links {
					if l.Kind == "Node" && l.Name == "worker-3" && l.State == "linked" {
						return
					}
				}
				t.Fatalf("worker-3 finding links %+v", f.Links)
			}
		}
		t.Error("no node-request-rate-outlier finding for worker-3")
	})
	t.Run("without a cluster findings still print, not linked", func(t *testing.T) {
		out, errOut, code := plugin(t, "detect", "-f", cp.AuditLogPath, "--kubeconfig", "/nonexistent")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if !strings.Contains(out, "failed-authentication") || !strings.Contains(out, "not linked") {
			t.Errorf("output:\n%s", out)
		}
	})
}
