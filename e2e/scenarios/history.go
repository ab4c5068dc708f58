package scenarios

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	typedappsv1 "k8s.io/client-go/kubernetes/typed/apps/v1"
	"k8s.io/utils/ptr"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// History is what RunHistory staged: one object's life, for `why`.
type History struct {
	Namespace string        `json:"namespace"`
	Resource  string        `json:"resource"`
	Name      string        `json:"name"`
	UID       string        `json:"uid"`
	Steps     []HistoryStep `json:"steps"`
}

// HistoryStep is one write to the object.
type HistoryStep struct {
	User string `json:"user"`
	Verb string `json:"verb"`
	// Change says what the write did, for people.
	Change string    `json:"change"`
	At     time.Time `json:"at"`
}

// RunHistory creates the shop/checkout deployment as the admin, lets alice
// scale it and bob change its image (both static-token users with a Role
// that allows it), and has alice delete it.
func RunHistory(ctx context.Context, cp *controlplane.ControlPlane) (History, error) {
	gt := History{Namespace: "shop", Resource: "deployments", Name: "checkout"}
	c := cp.Client
	if err := createNamespace(ctx, c, gt.Namespace); err != nil {
		return gt, err
	}
	if _, err := c.RbacV1().Roles(gt.Namespace).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch", "patch", "update", "delete"}}},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return gt, err
	}
	if _, err := c.RbacV1().RoleBindings(gt.Namespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "developers-deployer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "deployer"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "developers"}},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return gt, err
	}
	users := map[string]*controlplane.StaticUser{}
	for i := range controlplane.StaticUsers {
		users[controlplane.StaticUsers[i].Name] = &controlplane.StaticUsers[i]
	}
	client := func(user string) (typedappsv1.DeploymentInterface, error) {
		u := users[user]
		cs, err := cp.ClientFor(controlplane.ClientConfig{Token: u.Token, UserAgent: controlplane.KubectlUserAgent})
		if err != nil {
			return nil, err
		}
		return cs.AppsV1().Deployments(gt.Namespace), nil
	}
	alice, err := client("alice")
	if err != nil {
		return gt, err
	}
	bob, err := client("bob")
	if err != nil {
		return gt, err
	}

	labels := map[string]string{"app": gt.Name}
	d, err := c.AppsV1().Deployments(gt.Namespace).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: gt.Name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "checkout", Image: "registry.example.com/checkout:1.8.0"}}},
			},
		},
	}, metav1.CreateOptions{FieldManager: "kubectl-create"})
	if err != nil {
		return gt, err
	}
	gt.UID = string(d.UID)
	gt.Steps = append(gt.Steps, HistoryStep{User: "kubernetes-admin", Verb: "create", Change: "created with 1 replica, image checkout:1.8.0", At: time.Now().UTC()})

	// RBAC bindings reach the authorizer's cache within a moment.
	if err := waitFor(ctx, 15*time.Second, 200*time.Millisecond, "alice's RBAC", func(ctx context.Context) (bool, error) {
		_, err := alice.Get(ctx, gt.Name, metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return gt, err
	}
	if err := sleep(ctx, time.Second); err != nil {
		return gt, err
	}
	steps := []struct {
		user   string
		verb   string
		change string
		do     func() error
	}{
		{"alice", "patch", "replicas 1 -> 3", func() error {
			_, err := alice.Patch(ctx, gt.Name, types.StrategicMergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{FieldManager: "kubectl-patch"})
			return err
		}},
		{"bob", "patch", "image checkout:1.8.0 -> checkout:1.9.0-rc1", func() error {
			p := `{"spec":{"template":{"spec":{"containers":[{"name":"checkout","image":"registry.example.com/checkout:1.9.0-rc1"}]}}}}`
			_, err := bob.Patch(ctx, gt.Name, types.StrategicMergePatchType, []byte(p), metav1.PatchOptions{FieldManager: "kubectl-set"})
			return err
		}},
		{"alice", "delete", "deleted (propagationPolicy=Background)", func() error {
			return alice.Delete(ctx, gt.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
		}},
	}
	for _, s := range steps {
		at := time.Now().UTC()
		if err := s.do(); err != nil {
			return gt, fmt.Errorf("%s %s: %w", s.user, s.verb, err)
		}
		gt.Steps = append(gt.Steps, HistoryStep{User: s.user, Verb: s.verb, Change: s.change, At: at})
		if err := sleep(ctx, 2*time.Second); err != nil {
			return gt, err
		}
	}
	return gt, nil
}
