package detectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// groundTruth is the part of examples/ground-truth.json this test reads:
// what the e2e harness staged on a real kube-apiserver.
type groundTruth struct {
	DeploymentLifecycle struct {
		Namespace string `json:"namespace"`
		User      string `json:"user"`
		ExecPod   string `json:"execPod"`
	} `json:"deploymentLifecycle"`
	Unauthorized struct {
		ExpiredNodes []rejected `json:"expiredNodes"`
		UnknownCA    rejected   `json:"unknownCA"`
		BadToken     rejected   `json:"badToken"`
	} `json:"unauthorized"`
	Forbidden struct {
		User        string `json:"user"`
		UserAgent   string `json:"userAgent"`
		SecretLists int64  `json:"secretLists"`
	} `json:"forbidden"`
	OrphanLoop struct {
		Namespace            string   `json:"namespace"`
		Pods                 []string `json:"pods"`
		User                 string   `json:"user"`
		WebhookConfiguration string   `json:"webhookConfiguration"`
		Webhook              string   `json:"webhook"`
	} `json:"orphanLoop"`
	NodeRates struct {
		FastNode string `json:"fastNode"`
	} `json:"nodeRates"`
}

type rejected struct {
	Address   string `json:"address"`
	UserAgent string `json:"userAgent"`
	Requests  int64  `json:"requests"`
}

// TestRealControlPlane runs the shipped rules over the log a real
// kube-apiserver wrote while the e2e harness staged the talk's incidents
// (examples/), and checks that each incident is found with the right
// subject and that nothing else is: the control plane's own baseline
// traffic must stay quiet.
func TestRealControlPlane(t *testing.T) {
	const logFile = "../examples/audit.log.gz"
	data, err := os.ReadFile("../examples/ground-truth.json")
	if err != nil {
		// examples/ is part of the repository: a missing file is a broken
		// path, not a reason to skip.
		t.Fatalf("the recorded example: %v", err)
	}
	var gt groundTruth
	if err := json.Unmarshal(data, &gt); err != nil {
		t.Fatal(err)
	}
	rs, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := detectors.New(rs, detectors.Options{Streaming: true})
	if err != nil {
		t.Fatal(err)
	}
	in, err := sources.ResolveInputs([]string{logFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: in}, eng.NewSink); err != nil {
		t.Fatal(err)
	}
	res := eng.Finish()

	type want struct {
		rule  string
		key   map[string]string
		count int64 // 0: any
		check func(f detectors.Finding) error
	}
	var wants []want
	// The talk's four.
	for _, c := range append(append([]rejected{}, gt.Unauthorized.ExpiredNodes...), gt.Unauthorized.UnknownCA, gt.Unauthorized.BadToken) {
		wants = append(wants, want{rule: "failed-authentication", key: map[string]string{"sourceIP": c.Address, "userAgent": c.UserAgent}, count: c.Requests})
	}
	wants = append(wants, want{rule: "rbac-denied", key: map[string]string{"user": gt.Forbidden.User, "resourceKey": "secrets"}, count: gt.Forbidden.SecretLists,
		check: func(f detectors.Finding) error {
			if got := fmt.Sprint(f.Values["permissions"]); got != `[{apiGroups: [""], resources: ["secrets"], verbs: ["list"]}]` {
				return fmt.Errorf("permissions = %s", got)
			}
			return nil
		}})
	for _, pod := range gt.OrphanLoop.Pods {
		wants = append(wants, want{rule: "controller-invalid-update-loop",
			key: map[string]string{"user": gt.OrphanLoop.User, "resourceKey": "pods", "namespace": gt.OrphanLoop.Namespace, "name": pod},
			check: func(f detectors.Finding) error {
				wh := gt.OrphanLoop.WebhookConfiguration + "/" + gt.OrphanLoop.Webhook
				if got := fmt.Sprint(f.Values["webhooks"]); got != "["+wh+"]" {
					return fmt.Errorf("webhooks = %s, want [%s]", got, wh)
				}
				if f.Count < 5 {
					return fmt.Errorf("count %d", f.Count)
				}
				return nil
			}})
	}
	wants = append(wants, want{rule: "node-request-rate-outlier", key: map[string]string{"node": gt.NodeRates.FastNode}})
	// Staged actions that are findings in their own right.
	wants = append(wants,
		want{rule: "admission-webhook-changed", key: map[string]string{"user": "kubernetes-admin", "resource": "mutatingwebhookconfigurations", "name": gt.OrphanLoop.WebhookConfiguration}},
		want{rule: "pod-exec-attach", key: map[string]string{"user": gt.DeploymentLifecycle.User, "namespace": gt.DeploymentLifecycle.Namespace, "name": gt.DeploymentLifecycle.ExecPod}},
		want{rule: "expensive-cluster-wide-list", key: map[string]string{"user": gt.Forbidden.User, "userAgent": gt.Forbidden.UserAgent, "resourceKey": "services"}},
	)

	used := make([]bool, len(res.Findings))
	for _, w := range wants {
		found := false
		for i, f := range res.Findings {
			if used[i] || f.Rule != w.rule || !sameKey(f.Key, w.key) {
				continue
			}
			used[i], found = true, true
			if w.count != 0 && f.Count != w.count {
				t.Errorf("%s %v: count %d, want %d", w.rule, w.key, f.Count, w.count)
			}
			if w.check != nil {
				if err := w.check(f); err != nil {
					t.Errorf("%s %v: %v", w.rule, w.key, err)
				}
			}
			break
		}
		if !found {
			t.Errorf("missing: %s %v", w.rule, w.key)
		}
	}
	for i, f := range res.Findings {
		if !used[i] {
			t.Errorf("unexpected finding on the baseline: %s %s: %s", f.Rule, f.KeyString(), f.Summary)
		}
	}
	// The policy logs RBAC objects at Metadata: the rules that need their
	// bodies say they are blind instead of finding nothing.
	var blind []string
	for _, b := range res.Blind {
		blind = append(blind, b.Rule)
	}
	sort.Strings(blind)
	if got := strings.Join(blind, ","); got != "cluster-admin-binding,role-escalation-permissions,wildcard-role" {
		t.Errorf("blind rules = %s", got)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
}

func sameKey(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
