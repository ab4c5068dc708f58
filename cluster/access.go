package cluster

import (
	"context"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Allowed asks the live cluster (a SubjectAccessReview) whether user, in
// groups, may do what rule says in namespace ("" for cluster-wide). It
// answers for every verb, resource and group of the rule; ok is false when
// the cluster could not be asked.
func (l *Linker) Allowed(ctx context.Context, user string, groups []string, namespace string, rule rbacv1.PolicyRule) (allowed, ok bool) {
	if err := l.init(); err != nil {
		return false, false
	}
	ctx, cancel := l.timeout(ctx)
	defer cancel()
	allowed = true
	for _, verb := range rule.Verbs {
		for _, group := range orAll(rule.APIGroups) {
			for _, res := range rule.Resources {
				resource, sub := res, ""
				for i := range res {
					if res[i] == '/' {
						resource, sub = res[:i], res[i+1:]
						break
					}
				}
				names := rule.ResourceNames
				if len(names) == 0 {
					names = []string{""}
				}
				for _, name := range names {
					sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
						User: user, Groups: groups,
						ResourceAttributes: &authorizationv1.ResourceAttributes{
							Namespace: namespace, Verb: verb, Group: group, Resource: resource, Subresource: sub, Name: name,
						},
					}}
					got, err := l.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
					if err != nil {
						return false, false
					}
					if !got.Status.Allowed {
						allowed = false
					}
				}
			}
		}
	}
	return allowed, true
}

func orAll(groups []string) []string {
	if len(groups) == 0 {
		return []string{""}
	}
	return groups
}

func (l *Linker) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	t := l.opts.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return context.WithTimeout(ctx, t)
}
