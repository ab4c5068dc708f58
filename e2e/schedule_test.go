package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
	"github.com/kubectl-audit/kubectl-audit/e2e/scenarios"
)

// scheduledReport is what the plugin's webhook sink posts.
type scheduledReport struct {
	Key      string `json:"idempotencyKey"`
	Phase    string `json:"phase"`
	Incident string `json:"incident"`
	Finding  struct {
		Rule string            `json:"rule"`
		Key  map[string]string `json:"key"`
	} `json:"finding"`
}

type reportReceiver struct {
	mu  sync.Mutex
	got []scheduledReport
}

func (rv *reportReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rep scheduledReport
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &rep)
	if rep.Key != r.Header.Get("Idempotency-Key") {
		rep.Key = "MISMATCH " + rep.Key
	}
	rv.mu.Lock()
	rv.got = append(rv.got, rep)
	rv.mu.Unlock()
}

func (rv *reportReceiver) take() []scheduledReport {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	out := rv.got
	rv.got = nil
	return out
}

// stateOffset is the offset the state file records for file.
func stateOffset(t *testing.T, state, file string) (int64, int) {
	t.Helper()
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Files []struct {
			Path   string `json:"path"`
			Offset int64  `json:"offset"`
		} `json:"files"`
		Engine struct {
			Rules []struct {
				Windows []struct {
					Groups []json.RawMessage `json:"groups"`
				} `json:"windows"`
			} `json:"rules"`
		} `json:"engine"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	groups := 0
	for _, r := range st.Engine.Rules {
		for _, w := range r.Windows {
			groups += len(w.Groups)
		}
	}
	for _, f := range st.Files {
		if f.Path == file {
			return f.Offset, groups
		}
	}
	t.Fatalf("the state has no entry for %s: %s", file, b)
	return 0, 0
}

func reportsBy(rs []scheduledReport, rule string) []scheduledReport {
	var out []scheduledReport
	for _, r := range rs {
		if r.Finding.Rule == rule {
			out = append(out, r)
		}
	}
	return out
}

// TestScheduledDetect runs detect with --state over a real apiserver's
// log, stages more incidents while the apiserver goes on writing, and runs
// it again: the second run reads on from where the first stopped, finishes
// the windows the first left open, and reports only what is new; an
// incident still going on is not reported again. The events sink puts
// Warning Events on the linked Nodes, ServiceAccount, Pods and webhook
// configuration in the real API server. Then install cronjob's manifests
// pass a server dry run, are created, and the binary runs as the CronJob's
// pod would — the ServiceAccount's token and the in-cluster environment —
// and succeeds; with any one rule of its roles removed it fails naming the
// missing permission.
func TestScheduledDetect(t *testing.T) {
	cp := controlplane.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	rv := &reportReceiver{}
	srv := httptest.NewServer(rv)
	defer srv.Close()
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	rulesFile, err := filepath.Abs("testdata/short-windows.yaml")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"detect", "-f", cp.AuditLogPath, "--state", "file:" + state, "--rules", rulesFile,
		"--kubeconfig", cp.KubeconfigPath, "--notify", "webhook=" + srv.URL, "--notify", "events", "-o", "json"}
	detect := func(name string) []scheduledReport {
		t.Helper()
		_, errOut, code := plugin(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s", name, code, errOut)
		}
		got := rv.take()
		var lines []string
		for _, r := range got {
			lines = append(lines, fmt.Sprintf("  %s %s %v", r.Phase, r.Finding.Rule, r.Finding.Key))
		}
		t.Logf("%s:\n%s%s", name, errOut, strings.Join(lines, "\n"))
		return got
	}
	parallel := func(fs ...func() error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, len(fs))
		for i, f := range fs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = f() }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	var unauth scenarios.Unauthorized
	var forbidden scenarios.Forbidden
	parallel(
		func() (err error) { unauth, err = scenarios.RunUnauthorized(ctx, cp); return },
		func() (err error) { forbidden, err = scenarios.RunForbidden(ctx, cp); return },
	)
	first := detect("first run")
	off1, open1 := stateOffset(t, state, cp.AuditLogPath)
	if len(reportsBy(first, "rbac-denied")) == 0 {
		t.Fatalf("first run: no rbac-denied report for %s: %+v", forbidden.User, first)
	}
	if n := len(reportsBy(first, "failed-authentication")); n != 0 || open1 == 0 {
		t.Fatalf("first run: %d failed-authentication reports and %d open groups; want their windows left open", n, open1)
	}

	phaseB := time.Now()
	var orphan scenarios.OrphanLoop
	parallel(
		func() (err error) { _, err = scenarios.RunDeploymentLifecycle(ctx, cp); return },
		func() (err error) { orphan, err = scenarios.RunOrphanLoop(ctx, cp, 40*time.Second); return },
		func() (err error) { _, err = scenarios.RunNodeRates(ctx, cp, 30*time.Second); return },
	)
	// A window is evaluated once the log's time has passed its end plus
	// 1m30s; the apiserver's own traffic moves the log on.
	time.Sleep(time.Until(phaseB.Add(140 * time.Second)))
	second := detect("second run")
	off2, _ := stateOffset(t, state, cp.AuditLogPath)

	t.Run("the second run reads on from the first's offset", func(t *testing.T) {
		fi, err := os.Stat(cp.AuditLogPath)
		if err != nil {
			t.Fatal(err)
		}
		if off1 <= 0 || off2 <= off1 || off2 > fi.Size() {
			t.Errorf("offsets %d then %d (the log is %d bytes now)", off1, off2, fi.Size())
		}
	})
	t.Run("only new incidents, an ongoing one not repeated", func(t *testing.T) {
		seen := map[string]bool{}
		for _, r := range first {
			seen[r.Key] = true
			seen[r.Incident] = true
		}
		for _, r := range second {
			if seen[r.Key] || r.Phase == "new" && seen[r.Incident] {
				t.Errorf("second run repeats %s (%s %s)", r.Key, r.Phase, r.Finding.Rule)
			}
			if strings.HasPrefix(r.Key, "MISMATCH") {
				t.Errorf("the Idempotency-Key header is not the body's key: %s", r.Key)
			}
		}
		for _, r := range reportsBy(second, "rbac-denied") {
			if r.Finding.Key["user"] == forbidden.User {
				t.Errorf("the rbac-denied incident of %s, still active, is reported again: %+v", forbidden.User, r)
			}
		}
	})
	t.Run("the windows the first run left open are finished by the second", func(t *testing.T) {
		got := map[string]bool{}
		for _, r := range reportsBy(second, "failed-authentication") {
			if r.Phase == "new" {
				got[r.Finding.Key["sourceIP"]] = true
			}
		}
		for _, n := range unauth.ExpiredNodes {
			if !got[n.Address] {
				t.Errorf("no new failed-authentication incident for %s (%s): %+v", n.Address, n.Node, reportsBy(second, "failed-authentication"))
			}
		}
		pods := map[string]bool{}
		for _, r := range reportsBy(second, "controller-invalid-update-loop") {
			pods[r.Finding.Key["name"]] = true
		}
		if len(pods) != len(orphan.Pods) {
			t.Errorf("update-loop incidents on %v, want the pods %v", pods, orphan.Pods)
		}
	})
	t.Run("events on the linked objects", func(t *testing.T) {
		type object struct{ kind, ns, name, reason string }
		want := []object{
			{"ServiceAccount", forbidden.Namespace, forbidden.ServiceAccount, "rbac-denied"},
			{"MutatingWebhookConfiguration", "", orphan.WebhookConfiguration, "controller-invalid-update-loop"},
		}
		for _, n := range unauth.ExpiredNodes {
			want = append(want, object{"Node", "", n.Node, "failed-authentication"})
		}
		for _, p := range orphan.Pods {
			want = append(want, object{"Pod", orphan.Namespace, p, "controller-invalid-update-loop"})
		}
		for _, w := range want {
			ns := w.ns
			if ns == "" {
				ns = metav1.NamespaceDefault
			}
			// What kubectl describe reads: core/v1 Events by the object.
			sel := fmt.Sprintf("involvedObject.kind=%s,involvedObject.name=%s", w.kind, w.name)
			evs, err := cp.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			var reasons []string
			for _, ev := range evs.Items {
				if ev.ReportingController == "kubectl-audit.io/detect" && ev.Type == corev1.EventTypeWarning && ev.InvolvedObject.UID != "" {
					reasons = append(reasons, ev.Reason)
					found = found || ev.Reason == w.reason
				}
			}
			if !found {
				t.Errorf("no Warning Event %s from kubectl-audit on %s %s/%s (reasons %v)", w.reason, w.kind, w.ns, w.name, reasons)
			}
		}
	})
	t.Run("a third run finds nothing it reported", func(t *testing.T) {
		third := detect("third run")
		seen := map[string]bool{}
		for _, r := range append(first, second...) {
			seen[r.Key] = true
		}
		for _, r := range third {
			if seen[r.Key] {
				t.Errorf("third run repeats %s", r.Key)
			}
		}
	})

	t.Run("install cronjob", func(t *testing.T) { testInstallCronJob(ctx, t, cp, rulesFile) })
}

func testInstallCronJob(ctx context.Context, t *testing.T, cp *controlplane.ControlPlane, rulesFile string) {
	const ns, name, image = "kubectl-audit", "kubectl-audit", "kubectl-audit.invalid/kubectl-audit:e2e"
	install := []string{"install", "cronjob", "--schedule", "*/10 * * * *", "-f", cp.AuditLogPath, "--notify", "events",
		"--rules", "e2e-rules", "--image", image, "--kubeconfig", cp.KubeconfigPath}
	out, errOut, code := plugin(t, append(install, "--apply", "--dry-run", "server")...)
	if code == 0 || !strings.Contains(errOut, "namespace kubectl-audit does not exist") {
		t.Fatalf("a server dry run before the namespace exists: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = plugin(t, append(install, "--apply", "--dry-run", "server")...)
	if code != 0 || !strings.Contains(out, "CronJob kubectl-audit/kubectl-audit checked (server dry run)") {
		t.Fatalf("server dry run: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := cp.Client.BatchV1().CronJobs(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after a dry run the CronJob exists (%v)", err)
	}
	out, errOut, code = plugin(t, append(install, "--apply")...)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	cj, err := cp.Client.BatchV1().CronJobs(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %s", cj.Spec.ConcurrencyPolicy)
	}
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "e2e-rules"},
		Data: map[string]string{"short-windows.yaml": string(rules)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	pod := newPodRunner(ctx, t, cp, cj)
	stdout, stderr, code := pod.run()
	if code != 0 {
		t.Fatalf("the CronJob's run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Logf("the CronJob's run, as its pod:\n%s", stderr)
	cm, err := cp.Client.CoreV1().ConfigMaps(ns).Get(ctx, name+"-state", metav1.GetOptions{})
	if err != nil || len(cm.BinaryData["state.json.gz"]) == 0 {
		t.Fatalf("the state ConfigMap after the run: %v, %v", cm, err)
	}
	if n := gunzipLen(t, cm.BinaryData["state.json.gz"]); n == 0 {
		t.Fatal("empty state")
	}

	// Each rule of the roles is needed: without it the run fails and says
	// which permission is missing.
	type roleRef struct{ kind, ns, name string }
	for _, rr := range []roleRef{{"ClusterRole", "", name + "-detect"}, {"Role", ns, name + "-state"}} {
		all := getRules(ctx, t, cp, rr.kind, rr.ns, rr.name)
		for i, removed := range all {
			label := fmt.Sprintf("%s without %v %v %v", rr.kind, removed.APIGroups, removed.Resources, removed.Verbs)
			t.Run(label, func(t *testing.T) {
				rest := append(append([]rbacv1.PolicyRule{}, all[:i]...), all[i+1:]...)
				setRules(ctx, t, cp, rr.kind, rr.ns, rr.name, rest)
				defer setRules(ctx, t, cp, rr.kind, rr.ns, rr.name, all)
				waitAccess(ctx, t, cp, removed, false)
				resetState(ctx, t, cp, ns, name+"-state")
				_, stderr, code := pod.run()
				if code == 0 {
					t.Fatalf("the run succeeded without %v:\n%s", removed, stderr)
				}
				named := false
				for _, v := range removed.Verbs {
					for _, r := range removed.Resources {
						if strings.Contains(stderr, fmt.Sprintf("cannot %s resource %q", v, strings.Split(r, "/")[0])) {
							named = true
						}
					}
				}
				if !named {
					t.Errorf("exit %d, but the message does not name %v on %v:\n%s", code, removed.Verbs, removed.Resources, stderr)
				}
			})
			waitAccess(ctx, t, cp, removed, true)
		}
	}

	out, errOut, code = plugin(t, "uninstall", "cronjob", "--kubeconfig", cp.KubeconfigPath)
	if code != 0 || !strings.Contains(out, "CronJob kubectl-audit/kubectl-audit deleted") || !strings.Contains(out, "Namespace kubectl-audit deleted") {
		t.Fatalf("uninstall: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := cp.Client.RbacV1().ClusterRoles().Get(ctx, name+"-detect", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the ClusterRole after uninstall: %v", err)
	}
}

func gunzipLen(t *testing.T, b []byte) int {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	d, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return len(d)
}

// podRunner runs the plugin as the CronJob's pod would: the container's
// command, args and env, the ServiceAccount's token and the cluster's CA in
// /var/run/secrets/kubernetes.io/serviceaccount (client-go's
// rest.InClusterConfig reads that fixed path: a private mount namespace
// puts them there for the run alone), KUBERNETES_SERVICE_HOST and _PORT,
// and no kubeconfig. Volumes are where the kubelet would put them: a
// hostPath at its own path, the rules ConfigMap's files in a directory the
// mount path is mapped to.
type podRunner struct {
	t       *testing.T
	secrets string
	args    []string
	env     []string
}

func newPodRunner(ctx context.Context, t *testing.T, cp *controlplane.ControlPlane, cj *batchv1.CronJob) *podRunner {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running as the CronJob's pod needs a private mount namespace (root): skipped")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) not found: skipped")
	}
	spec := cj.Spec.JobTemplate.Spec.Template.Spec
	c := spec.Containers[0]
	tok, err := cp.Client.CoreV1().ServiceAccounts(cj.Namespace).CreateToken(ctx, spec.ServiceAccountName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secrets := t.TempDir()
	for file, data := range map[string][]byte{"token": []byte(tok.Status.Token), "ca.crt": cp.PKI.CA.CertPEM, "namespace": []byte(cj.Namespace)} {
		if err := os.WriteFile(filepath.Join(secrets, file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mapped := map[string]string{}
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case v.ConfigMap != nil:
				cm, err := cp.Client.CoreV1().ConfigMaps(cj.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				d := t.TempDir()
				for k, val := range cm.Data {
					if err := os.WriteFile(filepath.Join(d, k), []byte(val), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				mapped[m.MountPath] = d
			case v.EmptyDir != nil:
				mapped[m.MountPath] = t.TempDir()
			}
		}
	}
	var args []string
	for _, a := range append(append([]string{}, c.Command[1:]...), c.Args...) {
		if d, ok := mapped[a]; ok {
			a = d
		}
		args = append(args, a)
	}
	u, err := url.Parse(cp.URL)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "KUBERNETES_SERVICE_HOST=" + u.Hostname(), "KUBERNETES_SERVICE_PORT=" + u.Port(), "SECRETS=" + secrets}
	for _, e := range c.Env {
		v := e.Value
		if d, ok := mapped[v]; ok {
			v = d
		}
		env = append(env, e.Name+"="+v)
	}
	return &podRunner{t: t, secrets: secrets, args: args, env: env}
}

func (p *podRunner) run() (string, string, int) {
	p.t.Helper()
	script := `mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && ` +
		`cp "$SECRETS"/token "$SECRETS"/ca.crt "$SECRETS"/namespace /run/secrets/kubernetes.io/serviceaccount/ && exec "$@"`
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh", pluginBinary(p.t)}, p.args...)...)
	cmd.Env = p.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func getRules(ctx context.Context, t *testing.T, cp *controlplane.ControlPlane, kind, ns, name string) []rbacv1.PolicyRule {
	t.Helper()
	if kind == "ClusterRole" {
		r, err := cp.Client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Rules
	}
	r, err := cp.Client.RbacV1().Roles(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Rules
}

func setRules(ctx context.Context, t *testing.T, cp *controlplane.ControlPlane, kind, ns, name string, rules []rbacv1.PolicyRule) {
	t.Helper()
	var err error
	if kind == "ClusterRole" {
		var r *rbacv1.ClusterRole
		if r, err = cp.Client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{}); err == nil {
			r.Rules = rules
			_, err = cp.Client.RbacV1().ClusterRoles().Update(ctx, r, metav1.UpdateOptions{})
		}
	} else {
		var r *rbacv1.Role
		if r, err = cp.Client.RbacV1().Roles(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			r.Rules = rules
			_, err = cp.Client.RbacV1().Roles(ns).Update(ctx, r, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// waitAccess waits until the ServiceAccount may (or may not) do the first
// verb of rule: RBAC changes reach the authorizer through its informers.
func waitAccess(ctx context.Context, t *testing.T, cp *controlplane.ControlPlane, rule rbacv1.PolicyRule, allowed bool) {
	t.Helper()
	res, sub, _ := strings.Cut(rule.Resources[0], "/")
	attrs := &authorizationv1.ResourceAttributes{Verb: rule.Verbs[0], Group: rule.APIGroups[0], Resource: res, Subresource: sub}
	if len(rule.ResourceNames) > 0 {
		attrs.Namespace, attrs.Name = "kubectl-audit", rule.ResourceNames[0]
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		sar, err := cp.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:kubectl-audit:kubectl-audit", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kubectl-audit", "system:authenticated"},
			ResourceAttributes: attrs}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed == allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v: still allowed=%v after 30s", rule, sar.Status.Allowed)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// resetState empties the state ConfigMap, so that the next run starts
// afresh and needs every permission again.
func resetState(ctx context.Context, t *testing.T, cp *controlplane.ControlPlane, ns, name string) {
	t.Helper()
	cm, err := cp.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.BinaryData, cm.Data = nil, nil
	if _, err := cp.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
