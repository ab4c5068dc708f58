package scenarios

import (
	"context"
	"fmt"
	"net"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// Forbidden is what RunForbidden staged: an ingress controller's service
// account that may read services and endpoint slices but keeps listing
// secrets cluster-wide, and gets 403 each time.
type Forbidden struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	// User is the service account's user name in the audit log.
	User      string `json:"user"`
	Address   string `json:"address"`
	UserAgent string `json:"userAgent"`
	// SecretLists is how many times it listed secrets in all namespaces
	// (each a 403); ServiceLists how many times it listed services (200).
	SecretLists  int `json:"secretLists"`
	ServiceLists int `json:"serviceLists"`
}

// RunForbidden creates the traefik service account with a ClusterRole for
// services and endpoint slices only, gets it a real token (TokenRequest),
// and lists secrets cluster-wide with it, repeatedly, from 127.0.3.1.
func RunForbidden(ctx context.Context, cp *controlplane.ControlPlane) (Forbidden, error) {
	gt := Forbidden{
		Namespace: "traefik", ServiceAccount: "traefik",
		User: "system:serviceaccount:traefik:traefik", Address: "127.0.3.1",
		UserAgent: "traefik/v3.3.4 (linux/amd64) kubernetes/crd",
	}
	c := cp.Client
	if err := createNamespace(ctx, c, gt.Namespace); err != nil {
		return gt, err
	}
	if _, err := c.CoreV1().ServiceAccounts(gt.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: gt.ServiceAccount}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return gt, err
	}
	if _, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "traefik"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return gt, err
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "traefik"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "traefik"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: gt.Namespace, Name: gt.ServiceAccount}},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return gt, err
	}
	// A bound token, as the kubelet would project into the pod.
	tr, err := c.CoreV1().ServiceAccounts(gt.Namespace).CreateToken(ctx, gt.ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return gt, err
	}
	sa, err := cp.ClientFor(controlplane.ClientConfig{Token: tr.Status.Token, Source: net.ParseIP(gt.Address), UserAgent: gt.UserAgent})
	if err != nil {
		return gt, err
	}
	// RBAC changes reach the authorizer's cache within a moment; wait
	// until the allowed call works so the 403s are only the secrets'.
	if err := waitFor(ctx, 15*time.Second, 200*time.Millisecond, "traefik's RBAC", func(ctx context.Context) (bool, error) {
		_, err := sa.CoreV1().Services("").List(ctx, metav1.ListOptions{})
		if err == nil {
			gt.ServiceLists++
		}
		return err == nil, nil
	}); err != nil {
		return gt, err
	}
	for range 20 {
		_, err := sa.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
		gt.SecretLists++
		if !apierrors.IsForbidden(err) {
			return gt, fmt.Errorf("list secrets as %s: want 403 Forbidden, got %v", gt.User, err)
		}
		if _, err := sa.CoreV1().Services("").List(ctx, metav1.ListOptions{}); err != nil {
			return gt, err
		}
		gt.ServiceLists++
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return gt, err
		}
	}
	return gt, nil
}
