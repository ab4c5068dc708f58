package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

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

	// With the cluster reachable, lint checks names against its discovery:
	// a group it does not serve is a finding, not a note.
	out, errOut, code := plugin(t, "policy", "lint", "../cmd/testdata/policy/groups.yaml", "--kubeconfig", cp.KubeconfigPath, "--fail-on", "high")
	if code != 2 {
		t.Fatalf("policy lint with a cluster: exit %d, want 2\n%s%s", code, out, errOut)
	}
	for _, w := range []string{
		`medium  unknown-group  rule 2: the cluster serves no group "example.com", so this entry matches nothing`,
		`high  wrong-group  rule 2 lists deployments, ingresses under group "" (core)`,
		"(the cluster's discovery (" + cp.URL + "))",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("policy lint with a cluster lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(errOut, "no cluster") {
		t.Errorf("policy lint did not use the cluster:\n%s", errOut)
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

// everythingPolicy logs every stage of every request with both bodies.
const everythingPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: RequestResponse
`

// simUserAgent marks the scenario's clients, so their events can be told
// from the apiserver's own (the 401's too, which has no user).
const simUserAgent = "policy-simulation/1.0 (e2e)"

// TestPolicySimulateAgainstAPIServer runs one scripted scenario twice on a
// real kube-apiserver, first under a policy that logs everything at
// RequestResponse, then under examples/audit-policy.yaml (which lints
// clean), and checks that "policy simulate" of that policy over the first
// log predicts what the apiserver wrote in the second, per level, for the
// scenario's clients: the event counts exactly, the bytes within 10%.
func TestPolicySimulateAgainstAPIServer(t *testing.T) {
	linted, err := os.ReadFile("../examples/audit-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := plugin(t, "policy", "lint", "../examples/audit-policy.yaml", "--no-discovery", "--fail-on", "info"); code != 0 {
		t.Fatalf("examples/audit-policy.yaml does not lint clean (exit %d):\n%s%s", code, out, errOut)
	}
	dir := t.TempDir()
	logs := make([]string, 2)
	for i, pol := range []string{everythingPolicy, string(linted)} {
		logs[i] = filepath.Join(dir, fmt.Sprintf("run%d.log", i+1))
		runPolicyScenario(t, pol, logs[i])
	}

	out, errOut, code := plugin(t, "policy", "simulate", "../examples/audit-policy.yaml", "-f", logs[0], "-o", "json", "-q")
	if code != 0 {
		t.Fatalf("policy simulate: exit %d\n%s", code, errOut)
	}
	var res struct {
		ByLevel []struct {
			Key    string `json:"key"`
			Policy struct {
				Events         int64 `json:"events"`
				Bytes          int64 `json:"bytes"`
				EstimatedBytes int64 `json:"estimatedBytes"`
			} `json:"policy"`
		} `json:"byLevel"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("simulate -o json: %v\n%s", err, out)
	}
	predicted := map[string][2]int64{}
	for _, r := range res.ByLevel {
		if r.Policy.Events > 0 {
			predicted[r.Key] = [2]int64{r.Policy.Events, r.Policy.Bytes}
		}
		if r.Policy.EstimatedBytes > 0 {
			t.Errorf("level %s: %d bytes estimated; the first log holds every level and stage, so nothing should be", r.Key, r.Policy.EstimatedBytes)
		}
	}
	measured := levelCosts(t, logs[1])
	first := levelCosts(t, logs[0])
	var levels []string
	for l := range measured {
		levels = append(levels, l)
	}
	for l := range predicted {
		if _, ok := measured[l]; !ok {
			levels = append(levels, l)
		}
	}
	sort.Strings(levels)
	if len(levels) < 2 {
		t.Errorf("the second run logged the scenario at %v only: the test needs several levels", levels)
	}
	for _, l := range levels {
		p, m := predicted[l], measured[l]
		diff := 0.0
		if m[1] > 0 {
			diff = 100 * float64(p[1]-m[1]) / float64(m[1])
		}
		t.Logf("%-16s predicted %4d events %8d bytes, measured %4d events %8d bytes (%+.1f%%)", l, p[0], p[1], m[0], m[1], diff)
		if p[0] != m[0] {
			t.Errorf("level %s: predicted %d events, the apiserver wrote %d", l, p[0], m[0])
		}
		if math.Abs(diff) > 10 {
			t.Errorf("level %s: predicted %d bytes, the apiserver wrote %d (%+.1f%%, more than 10%%)", l, p[1], m[1], diff)
		}
	}
	t.Logf("first run (RequestResponse, every stage): %v", first)
}

// levelCosts counts the scenario's events of a log by level: events and
// bytes as written (each line and its newline).
func levelCosts(t *testing.T, path string) map[string][2]int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][2]int64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e struct {
			Level string `json:"level"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		c := out[e.Level]
		c[0]++
		c[1] += int64(len(sc.Bytes())) + 1
		out[e.Level] = c
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// runPolicyScenario starts etcd and a kube-apiserver under policy, runs
// the scenario, stops them, and writes the scenario's events (its user
// agent's lines, byte for byte) to out.
func runPolicyScenario(t *testing.T, policy, out string) {
	t.Helper()
	if v := os.Getenv(controlplane.SkipEnv); v != "" && v != "0" {
		t.Skipf("%s=%s: skipping the end-to-end test that needs a real control plane", controlplane.SkipEnv, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cp, err := controlplane.New(ctx, controlplane.Options{Dir: t.TempDir(), Log: testLog{t}, AuditPolicy: policy, NoControllerManager: true})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	serr := policyScenario(ctx, cp)
	if err := cp.Stop(); err != nil {
		t.Errorf("stop control plane: %v", err)
	}
	if serr != nil {
		t.Fatalf("scenario: %v", serr)
	}
	raw, err := os.ReadFile(cp.AuditLogPath)
	if err != nil {
		t.Fatal(err)
	}
	var kept bytes.Buffer
	ua := []byte(`"userAgent":` + fmt.Sprintf("%q", simUserAgent))
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		if bytes.Contains(line, ua) {
			kept.Write(line)
		}
	}
	if kept.Len() == 0 {
		t.Fatalf("%s: no event of the scenario's user agent", cp.AuditLogPath)
	}
	if err := os.WriteFile(out, kept.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// policyScenario is the same requests every run: an admin creating,
// reading, changing and deleting what the policy treats differently
// (namespaces, secrets, configmaps, deployments, pods, RBAC), a watch, a
// health probe, a user denied by RBAC, and a client that fails to
// authenticate.
func policyScenario(ctx context.Context, cp *controlplane.ControlPlane) error {
	admin, err := cp.ClientFor(controlplane.ClientConfig{Cert: &cp.PKI.Admin, UserAgent: simUserAgent})
	if err != nil {
		return err
	}
	alice, err := cp.ClientFor(controlplane.ClientConfig{Token: controlplane.StaticUsers[0].Token, UserAgent: simUserAgent})
	if err != nil {
		return err
	}
	stranger, err := cp.ClientFor(controlplane.ClientConfig{Token: "not-a-token-of-this-cluster", UserAgent: simUserAgent})
	if err != nil {
		return err
	}
	const ns = "sim"
	steps := []func() error{
		func() error {
			_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			// No controller manager: the pods' service account is made here.
			_, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"},
				StringData: map[string]string{"password": "hunter2-hunter2-hunter2"}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().Secrets(ns).Get(ctx, "db", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"},
				Data: map[string]string{"mode": "production", "replicas": "3"}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.AppsV1().Deployments(ns).Create(ctx, simDeployment(), metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{})
			return err
		},
		func() error {
			_, err := admin.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := admin.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().Pods(ns).Create(ctx, simPod(), metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().Pods(ns).Get(ctx, "worker", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return err
		},
		func() error {
			// A watch: long-running, so ResponseStarted and ResponseComplete.
			w, err := admin.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1)})
			if err != nil {
				return err
			}
			for range w.ResultChan() {
			}
			return nil
		},
		func() error {
			_, err := admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
				Subjects: []rbacv1.Subject{{Kind: "User", Name: "bob", APIGroup: "rbac.authorization.k8s.io"}}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := admin.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
			return err
		},
		func() error { return probe(ctx, admin, "/healthz") },
		func() error { return probe(ctx, admin, "/readyz") },
		func() error { return probe(ctx, admin, "/version") },
		func() error {
			_, err := alice.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			if !apierrors.IsForbidden(err) {
				return fmt.Errorf("alice listing secrets: want 403, got %v", err)
			}
			return nil
		},
		func() error {
			_, err := stranger.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if !apierrors.IsUnauthorized(err) {
				return fmt.Errorf("a bad token: want 401, got %v", err)
			}
			return nil
		},
		func() error {
			return admin.CoreV1().Pods(ns).Delete(ctx, "worker", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		},
		func() error {
			return admin.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{})
		},
		func() error {
			return admin.CoreV1().Secrets(ns).Delete(ctx, "db", metav1.DeleteOptions{})
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	return nil
}

func probe(ctx context.Context, c kubernetes.Interface, path string) error {
	return c.Discovery().RESTClient().Get().AbsPath(path).Do(ctx).Error()
}

func simDeployment() *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1.4.2"}}},
			},
		},
	}
}

func simPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "worker", Labels: map[string]string{"app": "worker"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "registry.example/worker:2.0.1",
			Env: []corev1.EnvVar{{Name: "MODE", Value: "batch"}}}}},
	}
}
