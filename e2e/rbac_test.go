package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// TestRBACSuggestionLive applies the Role that `detect -o rbac` suggests
// for traefik's 403s and checks the same request then succeeds, and that a
// second run, checked against the live RBAC, suggests nothing more.
func TestRBACSuggestionLive(t *testing.T) {
	cp, gt := liveRun(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"detect", "-q", "-f", cp.AuditLogPath, "--rule", "rbac-denied", "-o", "rbac", "--kubeconfig", cp.KubeconfigPath}
	out, errOut, code := plugin(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	applied := 0
	for _, doc := range strings.Split(out, "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		var err error
		switch meta.Kind {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err = yaml.Unmarshal([]byte(doc), &r); err == nil {
				_, err = cp.Client.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{})
			}
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if err = yaml.Unmarshal([]byte(doc), &b); err == nil {
				if len(b.Subjects) != 1 || b.Subjects[0].Name != gt.Forbidden.ServiceAccount {
					t.Errorf("binding subjects %+v, want traefik's service account", b.Subjects)
				}
				_, err = cp.Client.RbacV1().ClusterRoleBindings().Create(ctx, &b, metav1.CreateOptions{})
			}
		default:
			continue
		}
		if err != nil {
			t.Fatalf("apply %s: %v\n%s", meta.Kind, err, doc)
		}
		applied++
	}
	if applied != 2 {
		t.Fatalf("applied %d objects, want a ClusterRole and its binding:\n%s", applied, out)
	}

	tr, err := cp.Client.CoreV1().ServiceAccounts(gt.Forbidden.Namespace).CreateToken(ctx, gt.Forbidden.ServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := cp.ClientFor(controlplane.ClientConfig{Token: tr.Status.Token})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := sa.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("traefik still cannot list secrets after applying the suggestion: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	out, errOut, code = plugin(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "nothing to grant") || strings.Contains(out, "kind: ClusterRole") {
		t.Errorf("second run should find the permission granted:\n%s", out)
	}
}
