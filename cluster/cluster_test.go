package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var now = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

func ts(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func yes() *bool { b := true; return &b }

func fixtures() []runtime.Object {
	node := func(name, ip string, ready corev1.ConditionStatus) *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: ts(72 * time.Hour)},
			Status: corev1.NodeStatus{
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}},
				NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2"},
			},
		}
	}
	replicas := int32(1)
	return []runtime.Object{
		node("worker-expired-1", "127.0.1.1", corev1.ConditionFalse),
		node("worker-1", "127.0.2.1", corev1.ConditionTrue),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "traefik", Name: "traefik", UID: "uid-sa", CreationTimestamp: ts(time.Hour)}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "traefik", Name: "traefik", UID: "uid-dep"},
			Spec:   appsv1.DeploymentSpec{Replicas: &replicas, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: "traefik:v3.3.4"}}}}},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 1}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "traefik", Name: "traefik-5d4f8b7c9", UID: "uid-rs",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "traefik", UID: "uid-dep", Controller: yes()}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "traefik", Name: "traefik-5d4f8b7c9-abcde", UID: "uid-pod",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "traefik-5d4f8b7c9", UID: "uid-rs", Controller: yes()}}},
			Spec:   corev1.PodSpec{ServiceAccountName: "traefik", NodeName: "worker-1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.7", PodIPs: []corev1.PodIP{{IP: "10.244.0.7"}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "legacy", Name: "orphan", UID: "uid-orphan",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "billing-api", UID: "uid-old-rs", Controller: yes()}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.9"}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "developers-deployer"},
			RoleRef:  rbacv1.RoleRef{Kind: "Role", Name: "deployer"},
			Subjects: []rbacv1.Subject{{Kind: "Group", Name: "developers"}}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "deployer"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"*"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "changed"},
			RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "bob"}}},
		&admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "sidecar-env-injector"},
			Webhooks: []admissionv1.MutatingWebhook{{Name: "env-injector.sidecars.example.com",
				ClientConfig: admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Namespace: "sidecars", Name: "injector"}}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "sidecars", Name: "injector"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10"}},
	}
}

func newFake() (*Linker, *fake.Clientset) {
	cs := fake.NewClientset(fixtures()...)
	return NewForClients(cs, nil, nil, Options{Now: func() time.Time { return now }}), cs
}

// lists counts list calls by resource.
func lists(cs *fake.Clientset) map[string]int {
	n := map[string]int{}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "list" {
			n[a.GetResource().Resource]++
		} else {
			n["non-list:"+a.GetVerb()]++
		}
	}
	return n
}

func TestResolvers(t *testing.T) {
	l, cs := newFake()
	ctx := context.Background()
	tests := []struct {
		name string
		got  func() Link
		want string
	}{
		{"node by address", func() Link { return l.SourceIP(ctx, "127.0.1.1") },
			"Node worker-expired-1 (linked; NotReady, kubelet v1.37.2, age 3d)"},
		{"pod by address, with owners", func() Link { return l.SourceIP(ctx, "10.244.0.7") },
			"Pod traefik/traefik-5d4f8b7c9-abcde (linked; Running, on worker-1, 10.244.0.7)"},
		{"unknown address", func() Link { return l.SourceIP(ctx, "192.0.2.1") },
			"Node (not found: no node or pod has address 192.0.2.1)"},
		{"node by name", func() Link { return l.Node(ctx, "worker-1") }, "Node worker-1 (linked; Ready, kubelet v1.37.2, age 3d)"},
		{"node gone", func() Link { return l.Node(ctx, "worker-9") }, "Node worker-9 (gone: no such node)"},
		{"service account with pods", func() Link { return l.ServiceAccount(ctx, "traefik", "traefik") },
			"ServiceAccount traefik/traefik (linked; age 1h, 1 pods)"},
		{"service account gone", func() Link { return l.ServiceAccount(ctx, "traefik", "nope") },
			"ServiceAccount traefik/nope (gone: no such service account)"},
		{"object with owner chain", func() Link {
			return l.Object(ctx, ObjectQuery{Resource: "pods", Namespace: "traefik", Name: "traefik-5d4f8b7c9-abcde", UID: "uid-pod"})
		}, "Pod traefik/traefik-5d4f8b7c9-abcde (linked; Running, on worker-1, 10.244.0.7)"},
		{"object recreated", func() Link {
			return l.Object(ctx, ObjectQuery{Group: "apps", Resource: "deployments", Namespace: "traefik", Name: "traefik", UID: "uid-older"})
		}, "Deployment traefik/traefik (gone: recreated: the live object has uid uid-dep; 1/1 ready, image traefik:v3.3.4)"},
		{"object gone", func() Link {
			return l.Object(ctx, ObjectQuery{Group: "apps", Resource: "deployments", Namespace: "shop", Name: "checkout"})
		}, "Deployment shop/checkout (gone: not found)"},
		{"webhook and its service", func() Link { return l.Webhook(ctx, "sidecar-env-injector", "env-injector.sidecars.example.com") },
			"MutatingWebhookConfiguration sidecar-env-injector (linked; webhook env-injector.sidecars.example.com)"},
		{"webhook gone", func() Link { return l.Webhook(ctx, "nope", "") },
			"MutatingWebhookConfiguration nope (gone: no such mutating or validating webhook configuration)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.got().String(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}

	pod := l.SourceIP(ctx, "10.244.0.7")
	if len(pod.Owners) != 2 || pod.Owners[0].Name != "traefik-5d4f8b7c9" || pod.Owners[1].Kind != "Deployment" {
		t.Errorf("pod owners = %v", pod.Owners)
	}
	sa := l.ServiceAccount(ctx, "traefik", "traefik")
	if len(sa.Related) != 1 || len(sa.Related[0].Owners) != 2 {
		t.Errorf("service account related = %+v", sa.Related)
	}
	orphan := l.Object(ctx, ObjectQuery{Resource: "pods", Namespace: "legacy", Name: "orphan"})
	if len(orphan.Owners) != 1 || orphan.Owners[0].State != StateGone {
		t.Errorf("orphan owners = %+v, want the deleted replicaset gone", orphan.Owners)
	}
	wh := l.Webhook(ctx, "sidecar-env-injector", "")
	if len(wh.Related) != 1 || wh.Related[0].String() != "Service sidecars/injector (linked; ClusterIP 10.96.0.10)" {
		t.Errorf("webhook related = %+v", wh.Related)
	}

	// One list per resource type, whatever the number of lookups.
	for res, n := range lists(cs) {
		if n != 1 || strings.HasPrefix(res, "non-list:") {
			t.Errorf("%s: %d calls, want exactly one list", res, n)
		}
	}
}

func TestRBAC(t *testing.T) {
	l, _ := newFake()
	ctx := context.Background()
	tests := []struct {
		name string
		b    Binding
		want []string
	}{
		{"unchanged", Binding{Kind: "RoleBinding", Name: "developers-deployer", Namespace: "shop", RoleKind: "Role", RoleName: "deployer", SubjectKind: "Group", SubjectName: "developers"},
			[]string{"RoleBinding shop/developers-deployer (linked; Role deployer, 1 subjects)", "Role shop/deployer (linked; 1 rules)"}},
		{"role and subject changed", Binding{Kind: "ClusterRoleBinding", Name: "changed", RoleKind: "ClusterRole", RoleName: "edit", SubjectKind: "User", SubjectName: "alice"},
			[]string{`ClusterRoleBinding changed (changed: now grants ClusterRole "view"; no longer binds User "alice"; ClusterRole view, 1 subjects)`, "ClusterRole edit (gone: deleted since)"}},
		{"binding deleted", Binding{Kind: "ClusterRoleBinding", Name: "gone", RoleKind: "ClusterRole", RoleName: "edit", SubjectKind: "User", SubjectName: "alice"},
			[]string{"ClusterRoleBinding gone (gone: deleted since)", "ClusterRole edit (gone: deleted since)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, x := range l.RBAC(ctx, tt.b) {
				got = append(got, x.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestUser(t *testing.T) {
	l, _ := newFake()
	ctx := context.Background()
	tests := []struct {
		user, nodeExtra string
		want            []string
	}{
		{"system:node:worker-1", "", []string{"Node worker-1"}},
		{"system:serviceaccount:traefik:traefik", "worker-1", []string{"ServiceAccount traefik/traefik", "Node worker-1"}},
		{"alice", "", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, x := range l.User(ctx, tt.user, tt.nodeExtra) {
			got = append(got, x.Kind+" "+strings.TrimPrefix(x.Namespace+"/"+x.Name, "/"))
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("User(%q) = %v, want %v", tt.user, got, tt.want)
		}
	}
}

// Error paths: no cluster, forbidden, timeout. The finding still gets a
// Link, marked not linked with the reason; a timeout stops further calls.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("no cluster", func(t *testing.T) {
		l := New(nil, Options{})
		if got := l.SourceIP(ctx, "127.0.1.1"); got.State != StateNotLinked || got.Reason != "no cluster" {
			t.Errorf("got %s", got)
		}
		if ok, why := l.Available(); ok || why != "no cluster" {
			t.Errorf("Available = %v %q", ok, why)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		cs := fake.NewClientset(fixtures()...)
		cs.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) { return false, nil, nil })
		cs.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("RBAC: nope"))
		})
		l := NewForClients(cs, nil, nil, Options{})
		if got := l.Node(ctx, "worker-1"); got.String() != "Node worker-1 (not linked: forbidden)" {
			t.Errorf("got %s", got)
		}
		// Forbidden is about one type: other lookups still work.
		if got := l.ServiceAccount(ctx, "traefik", "traefik"); got.State != StateLinked {
			t.Errorf("service account after a forbidden node list: %s", got)
		}
		if n := lists(cs)["nodes"]; n != 1 {
			t.Errorf("nodes listed %d times, want 1 (errors are cached too)", n)
		}
		l.Node(ctx, "worker-2")
		if n := lists(cs)["nodes"]; n != 1 {
			t.Errorf("nodes listed %d times after a second lookup, want 1", n)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		cs := fake.NewClientset(fixtures()...)
		cs.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, context.DeadlineExceeded
		})
		l := NewForClients(cs, nil, nil, Options{Timeout: time.Millisecond})
		if got := l.SourceIP(ctx, "127.0.1.1"); got.Reason != "timeout" {
			t.Errorf("got %s", got)
		}
		if got := l.ServiceAccount(ctx, "traefik", "traefik"); got.Reason != "timeout" {
			t.Errorf("got %s", got)
		}
		if n := len(cs.Actions()); n != 1 {
			t.Errorf("%d calls after a timeout, want 1: the cluster is marked down", n)
		}
		if ok, why := l.Available(); ok || why != "timeout" {
			t.Errorf("Available = %v %q", ok, why)
		}
	})
	t.Run("unknown type without discovery", func(t *testing.T) {
		l, _ := newFake()
		got := l.Object(ctx, ObjectQuery{Group: "example.com", Resource: "widgets", Namespace: "a", Name: "b"})
		if got.State != StateNotLinked || !strings.Contains(got.Reason, "no discovery") {
			t.Errorf("got %s", got)
		}
	})
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("x")), "forbidden"},
		{apierrors.NewUnauthorized("x"), "unauthorized"},
		{context.DeadlineExceeded, "timeout"},
		{apierrors.NewTimeoutError("x", 1), "timeout"},
		{errors.New(`Get "https://10.0.0.1:6443/api": dial tcp 10.0.0.1:6443: connect: connection refused`), `unreachable: Get "https://10.0.0.1:6443/api": dial tcp 10.0.0.1:6443: connect: connection refused`},
		{reasonError("forbidden"), "forbidden"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
