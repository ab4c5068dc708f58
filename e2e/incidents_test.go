package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/e2e/auditlog"
	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
	"github.com/kubectl-audit/kubectl-audit/e2e/scenarios"
)

// TestIncidents starts a real control plane, stages every scenario, and
// checks that the audit log the apiserver wrote shows each incident as
// staged. It builds the binaries first if they are not cached (minutes).
func TestIncidents(t *testing.T) {
	cp, gt := liveRun(t)
	if err := cp.Healthy(); err != nil {
		t.Fatal(err)
	}

	events, err := auditlog.ReadFile(cp.AuditLogPath)
	if err != nil {
		t.Fatalf("read audit log: %v", err)
	}
	apiserverLog, err := os.ReadFile(cp.APIServerLogPath)
	if err != nil {
		t.Fatal(err)
	}
	checkIncidents(t, events, apiserverLog, gt)
}

// TestExamples checks the recorded example in ../examples against its
// ground truth, with the same checks as TestIncidents, so the shipped log
// stays what its README says. It needs no control plane.
func TestExamples(t *testing.T) {
	dir := filepath.Join("..", "examples")
	events, err := auditlog.ReadFile(filepath.Join(dir, "audit.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	apiserverLog, err := readGzip(filepath.Join(dir, "kube-apiserver.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "ground-truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gt scenarios.GroundTruth
	if err := json.Unmarshal(b, &gt); err != nil {
		t.Fatal(err)
	}
	checkIncidents(t, events, apiserverLog, gt)
}

func readGzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// checkIncidents runs every check on one recorded log.
func checkIncidents(t *testing.T, events []auditlog.Event, apiserverLog []byte, gt scenarios.GroundTruth) {
	requests := auditlog.Requests(events)
	t.Logf("audit log: %d events, %d requests", len(events), len(requests))
	tests := []struct {
		name  string
		check func(t *testing.T, events, requests []auditlog.Event, apiserverLog []byte, gt scenarios.GroundTruth)
	}{
		{"deployment lifecycle", checkDeploymentLifecycle},
		{"401 from expired node certificates", checkUnauthorized},
		{"403 traefik lists secrets", checkForbidden},
		{"422 garbage collector cannot orphan pods", checkOrphanLoop},
		{"per-node request rates", checkNodeRates},
		{"object history", checkHistory},
		{"stages and levels", checkStagesAndLevels},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, events, requests, apiserverLog, gt) })
	}
}

func checkDeploymentLifecycle(t *testing.T, events, requests []auditlog.Event, _ []byte, gt scenarios.GroundTruth) {
	d := gt.Deployment
	var verbs []string
	for _, e := range requests {
		// Gets are the scenario polling for the rollout, not staged steps.
		if e.User.Username == d.User && e.Namespace() == d.Namespace && strings.HasPrefix(e.Resource(), "deployments") && e.Verb != "get" {
			v := e.Verb
			if e.ObjectRef.Subresource != "" {
				v += "/" + e.ObjectRef.Subresource
			}
			verbs = append(verbs, v)
		}
	}
	if !slices.Equal(verbs, d.Steps) {
		t.Errorf("admin's calls on %s/%s = %v, want %v", d.Namespace, d.Name, verbs, d.Steps)
	}

	if d.Pods.Bindings < int64(d.Replicas[1]) || d.Pods.StatusUpdates != d.Pods.Bindings {
		t.Errorf("simulated scheduler and kubelet: %d bindings, %d status updates; want at least %d, equal", d.Pods.Bindings, d.Pods.StatusUpdates, d.Replicas[1])
	}
	var execs int
	for _, e := range requests {
		if e.Resource() == "pods/exec" && e.Name() == d.ExecPod && e.User.Username == d.User {
			execs++
			t.Logf("exec event: verb %s, stage %s, code %d; client saw %q", e.Verb, e.Stage, e.Code(), d.ExecError)
		}
	}
	if execs != 1 {
		t.Errorf("%d pods/exec events for %s, want 1", execs, d.ExecPod)
	}

	// With --use-service-account-credentials each controller is its own
	// service account in kube-system.
	count := func(user, verb, resource string) int {
		n := 0
		for _, e := range requests {
			if e.User.Username == user && e.Verb == verb && e.Resource() == resource && e.Namespace() == d.Namespace && e.Code()/100 == 2 {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		user, verb, resource string
		atLeast              int
	}{
		{"system:serviceaccount:kube-system:deployment-controller", "create", "replicasets", 2},
		{"system:serviceaccount:kube-system:replicaset-controller", "create", "pods", int(d.Replicas[1])},
		{"system:serviceaccount:kube-system:generic-garbage-collector", "delete", "replicasets", 2},
		{"system:serviceaccount:kube-system:generic-garbage-collector", "delete", "pods", 1},
		{"system:serviceaccount:kube-system:replicaset-controller", "delete", "pods", 1},
		{d.Pods.SchedulerUser, "create", "pods/binding", int(d.Pods.Bindings)},
		{d.Pods.KubeletUser, "update", "pods/status", int(d.Pods.StatusUpdates)},
		{d.Pods.KubeletUser, "delete", "pods", 1},
	} {
		if got := count(c.user, c.verb, c.resource); got < c.atLeast {
			t.Errorf("%s %s %s in %s: %d successful requests, want at least %d", c.user, c.verb, c.resource, d.Namespace, got, c.atLeast)
		}
	}
}

func checkUnauthorized(t *testing.T, events, requests []auditlog.Event, apiserverLog []byte, gt scenarios.GroundTruth) {
	u := gt.ExpiredCerts
	want := map[string]int{}
	for _, c := range append(slices.Clone(u.ExpiredNodes), u.UnknownCA, u.BadToken) {
		want[c.Address] = c.Requests
	}
	got := map[string]int{}
	for _, e := range requests {
		if e.Code() != 401 {
			continue
		}
		got[e.SourceIP()]++
		// A rejected client has no identity: the event's user is {}, its
		// status says only "Unauthorized", and authorization never ran.
		if e.User.Username != "" || len(e.User.Groups) != 0 {
			t.Errorf("401 event %s has user %+v, want none", e.AuditID, e.User)
		}
		if e.ResponseStatus.Reason != "Unauthorized" || e.Annotations["authorization.k8s.io/decision"] != "" {
			t.Errorf("401 event %s: reason %q, annotations %v", e.AuditID, e.ResponseStatus.Reason, e.Annotations)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("401s by source address = %v, want %v", got, want)
	}

	// At -v=3 the apiserver logs an "HTTP" line per request carrying the
	// audit-ID: the exact join between a 401 event and the log around it.
	httpLines := map[string]string{}
	for line := range bytes.Lines(apiserverLog) {
		if i := bytes.Index(line, []byte(`audit-ID="`)); i >= 0 && bytes.Contains(line, []byte(`"HTTP"`)) {
			id, _, _ := strings.Cut(string(line[i+len(`audit-ID="`):]), `"`)
			httpLines[id] = string(line)
		}
	}
	for _, e := range requests {
		if e.Code() != 401 {
			continue
		}
		line, ok := httpLines[e.AuditID]
		if !ok {
			t.Errorf("401 %s: no HTTP line with its audit-ID in the apiserver log", e.AuditID)
			continue
		}
		if !strings.Contains(line, "resp=401") || !strings.Contains(line, `srcIP="`+e.SourceIP()+":") {
			t.Errorf("401 %s from %s: HTTP line %s", e.AuditID, e.SourceIP(), line)
		}
	}

	// The reason is only in the apiserver's own log.
	for _, c := range []struct {
		reason  string
		atLeast int
	}{
		{"certificate has expired or is not yet valid", sumRequests(u.ExpiredNodes)},
		{"certificate signed by unknown authority", u.UnknownCA.Requests},
		{"invalid bearer token", u.BadToken.Requests},
	} {
		n := 0
		for line := range bytes.Lines(apiserverLog) {
			if bytes.Contains(line, []byte("Unable to authenticate the request")) && bytes.Contains(line, []byte(c.reason)) {
				n++
			}
		}
		if n < c.atLeast {
			t.Errorf("apiserver log: %d %q lines with %q, want at least %d", n, "Unable to authenticate the request", c.reason, c.atLeast)
		}
	}
}

func sumRequests(cs []scenarios.RejectedClient) int {
	n := 0
	for _, c := range cs {
		n += c.Requests
	}
	return n
}

func checkForbidden(t *testing.T, events, requests []auditlog.Event, _ []byte, gt scenarios.GroundTruth) {
	f := gt.Forbidden
	var secrets, services int
	for _, e := range requests {
		if e.User.Username != f.User {
			continue
		}
		if e.SourceIP() != f.Address || e.UserAgent != f.UserAgent {
			t.Errorf("traefik event %s from %s with agent %q, want %s and %q", e.AuditID, e.SourceIP(), e.UserAgent, f.Address, f.UserAgent)
		}
		switch {
		case e.Verb == "list" && e.Resource() == "secrets" && e.Namespace() == "":
			secrets++
			if e.Code() != 403 {
				t.Errorf("traefik list secrets: code %d, want 403", e.Code())
			}
			if d := e.Annotations["authorization.k8s.io/decision"]; d != "forbid" {
				t.Errorf("traefik list secrets: authorization.k8s.io/decision = %q, want forbid", d)
			}
		case e.Verb == "list" && e.Resource() == "services" && e.Code() == 200:
			services++
		}
	}
	if secrets != f.SecretLists {
		t.Errorf("traefik: %d list secrets (all namespaces), want %d", secrets, f.SecretLists)
	}
	if services != f.ServiceLists {
		t.Errorf("traefik: %d successful list services, want %d", services, f.ServiceLists)
	}
}

func checkOrphanLoop(t *testing.T, events, requests []auditlog.Event, _ []byte, gt scenarios.GroundTruth) {
	o := gt.OrphanLoop
	if !o.StillTerminating {
		t.Errorf("ReplicaSet %s/%s is not stuck Terminating with the orphan finalizer", o.Namespace, o.ReplicaSet)
	}
	perPod := map[string]int{}
	for _, e := range requests {
		if e.Code() != 422 {
			continue
		}
		if e.User.Username != o.User || e.Verb != "patch" || e.Resource() != "pods" || e.Namespace() != o.Namespace {
			t.Errorf("unexpected 422: %s %s %s/%s by %s", e.Verb, e.Resource(), e.Namespace(), e.Name(), e.User.Username)
			continue
		}
		perPod[e.Name()]++
		if e.ResponseStatus.Reason != "Invalid" {
			t.Errorf("422 reason = %q, want Invalid", e.ResponseStatus.Reason)
		}
		// The collector's patch only removes the ownerReference...
		if !bytes.Contains(e.RequestObject, []byte(`"$patch":"delete"`)) || !bytes.Contains(e.RequestObject, []byte(o.RSUID)) {
			t.Errorf("422 patch body %s does not delete the ownerReference to %s", e.RequestObject, o.RSUID)
		}
		// ...and the webhook's mutation is what breaks it.
		if !strings.Contains(e.Annotations["mutation.webhook.admission.k8s.io/round_0_index_0"], o.Webhook) {
			t.Errorf("422 event lacks the webhook's mutation annotation: %v", e.Annotations)
		}
	}
	var pods []string
	for p, n := range perPod {
		pods = append(pods, p)
		if n < 3 {
			t.Errorf("pod %s: %d failed orphaning patches in %.0fs, want at least 3", p, n, o.LoopSeconds)
		}
	}
	sort.Strings(pods)
	want := slices.Sorted(slices.Values(o.Pods))
	if !slices.Equal(pods, want) {
		t.Errorf("422s on pods %v, want %v", pods, want)
	}
	t.Logf("422s per pod: %v; webhook calls: %d", perPod, o.WebhookCalls)
}

func checkNodeRates(t *testing.T, events, requests []auditlog.Event, _ []byte, gt scenarios.GroundTruth) {
	nr := gt.NodeRates
	type counts struct{ status, lease, cm int }
	by := map[string]*counts{}
	for _, k := range nr.Kubelets {
		by[k.User] = &counts{}
	}
	addr := map[string]string{}
	for _, k := range nr.Kubelets {
		addr[k.User] = k.Address
	}
	for _, e := range requests {
		c, ok := by[e.User.Username]
		if !ok || e.Code()/100 != 2 {
			continue
		}
		if e.SourceIP() != addr[e.User.Username] {
			t.Errorf("%s called from %s, want %s", e.User.Username, e.SourceIP(), addr[e.User.Username])
		}
		switch {
		case e.Verb == "patch" && e.Resource() == "nodes/status":
			c.status++
		case e.Verb == "update" && e.Resource() == "leases":
			c.lease++
		case e.Verb == "get" && e.Resource() == "configmaps" && e.Name() == nr.ConfigMap:
			c.cm++
		}
	}
	var fast float64
	var slow []float64
	for _, k := range nr.Kubelets {
		c := by[k.User]
		// A call cut short by the end of the run may have reached the
		// server without the client counting it: allow one more.
		within := func(n, want int) bool { return n == want || n == want+1 }
		if !within(c.lease, k.Heartbeats) || !within(c.status, k.Heartbeats) {
			t.Errorf("%s: %d status patches and %d lease updates, want %d heartbeats", k.Node, c.status, c.lease, k.Heartbeats)
		}
		if !within(c.cm, k.ConfigMapGets) {
			t.Errorf("%s: %d gets of configmap %s, want %d", k.Node, c.cm, nr.ConfigMap, k.ConfigMapGets)
		}
		if k.Node == nr.FastNode {
			fast = float64(c.status)
		} else {
			slow = append(slow, float64(c.status))
		}
	}
	var mean float64
	for _, s := range slow {
		mean += s / float64(len(slow))
	}
	if ratio := fast / mean; ratio < 4 || ratio > 6 {
		t.Errorf("%s heartbeats %.1fx the others' rate, want about 5x (%v vs %v)", nr.FastNode, ratio, fast, slow)
	}
}

func checkHistory(t *testing.T, events, requests []auditlog.Event, _ []byte, gt scenarios.GroundTruth) {
	h := gt.History
	var got []string
	for _, e := range requests {
		if e.Resource() != h.Resource || e.Namespace() != h.Namespace || e.Name() != h.Name {
			continue
		}
		if e.Verb != "create" && e.Verb != "patch" && e.Verb != "update" && e.Verb != "delete" {
			continue
		}
		// Writes by controllers (the deployment controller's status
		// updates) are part of the history but not staged.
		if strings.HasPrefix(e.User.Username, "system:") {
			continue
		}
		got = append(got, e.User.Username+" "+e.Verb)
		if e.Level != "RequestResponse" || len(e.RequestObject) == 0 {
			t.Errorf("%s %s: level %s with %d-byte request body, want RequestResponse with a body", e.User.Username, e.Verb, e.Level, len(e.RequestObject))
		}
	}
	var want []string
	for _, s := range h.Steps {
		want = append(want, s.User+" "+s.Verb)
	}
	if !slices.Equal(got, want) {
		t.Errorf("history of %s/%s = %v, want %v", h.Namespace, h.Name, got, want)
	}
}

// checkStagesAndLevels pins what the real server writes, which the
// plugin's reader relies on: no RequestReceived (omitted by the policy),
// watches as ResponseStarted (+ ResponseComplete once closed), 401s as a
// lone ResponseStarted, every other request as a lone ResponseComplete,
// secrets and configmaps never above Metadata.
func checkStagesAndLevels(t *testing.T, events, requests []auditlog.Event, _ []byte, gt scenarios.GroundTruth) {
	stages := map[string]map[string]bool{}
	for _, e := range events {
		if e.Stage == "RequestReceived" {
			t.Fatalf("RequestReceived event despite omitStages: %s", e.AuditID)
		}
		if (e.Resource() == "secrets" || e.Resource() == "configmaps") && e.Level != "Metadata" {
			t.Errorf("%s event at level %s", e.Resource(), e.Level)
		}
		if stages[e.AuditID] == nil {
			stages[e.AuditID] = map[string]bool{}
		}
		stages[e.AuditID][e.Stage] = true
	}
	for _, e := range requests {
		s := stages[e.AuditID]
		// Long-running requests (watches, and exec/attach/port-forward,
		// which answer 101 Switching Protocols) log ResponseStarted when
		// the response begins and ResponseComplete when it ends.
		if e.Verb == "watch" || longRunningSubresources[subresource(&e)] {
			if !s["ResponseStarted"] {
				t.Errorf("%s %s %s: no ResponseStarted event", e.Verb, e.AuditID, e.RequestURI)
			}
			continue
		}
		// A request rejected by authentication is logged once, at
		// ResponseStarted, and never completes; the others end at
		// ResponseComplete only.
		switch {
		case e.Code() == 401 && (e.Stage != "ResponseStarted" || len(s) != 1):
			t.Errorf("401 %s: stages %v, want only ResponseStarted", e.RequestURI, s)
		case e.Code() != 401 && (e.Stage != "ResponseComplete" || len(s) != 1):
			t.Errorf("%s %s: stages %v, want only ResponseComplete", e.Verb, e.RequestURI, s)
		}
	}
	d := gt.Deployment
	for _, e := range requests {
		if e.Verb == "watch" && e.Namespace() == d.Namespace && e.Resource() == "deployments" && e.User.Username == d.User {
			if e.Stage != "ResponseComplete" {
				t.Errorf("admin's closed watch on %s ends at stage %s, want ResponseComplete", d.Name, e.Stage)
			}
			return
		}
	}
	t.Errorf("no watch on deployments in %s by %s", d.Namespace, d.User)
}

var longRunningSubresources = map[string]bool{"exec": true, "attach": true, "portforward": true, "proxy": true}

func subresource(e *auditlog.Event) string {
	if e.ObjectRef == nil {
		return ""
	}
	return e.ObjectRef.Subresource
}

// keepArtifacts copies the logs to $KUBECTL_AUDIT_E2E_ARTIFACTS/<test>, if
// set, after the control plane has stopped, so CI can keep them.
func keepArtifacts(t *testing.T, cp *controlplane.ControlPlane) {
	dir := os.Getenv("KUBECTL_AUDIT_E2E_ARTIFACTS")
	if dir == "" {
		return
	}
	// Registered after Start's cleanup, so it runs before it: stop first.
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Log(err)
		}
		dst := filepath.Join(dir, t.Name())
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Log(err)
			return
		}
		for _, src := range []string{cp.AuditLogPath, cp.APIServerLogPath, cp.ControllerManagerLogPath, cp.EtcdLogPath} {
			if err := copyFile(src, filepath.Join(dst, filepath.Base(src))); err != nil {
				t.Log(err)
			}
		}
		t.Logf("logs kept in %s", dst)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
