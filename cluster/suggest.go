package cluster

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/detectors"
)

// AccessChecker answers whether a subject may do what a rule says now
// (Linker.Allowed, a SubjectAccessReview); ok is false when it cannot tell.
type AccessChecker interface {
	Allowed(ctx context.Context, user string, groups []string, namespace string, rule rbacv1.PolicyRule) (allowed, ok bool)
}

// RBACSuggestion is the smallest Role or ClusterRole and binding that would
// allow what one finding's subject was denied in one namespace ("" for
// cluster-wide), minus what the cluster allows already.
type RBACSuggestion struct {
	Rule        string
	User        string
	Count       int64
	Namespace   string
	Permissions []audit.PolicyRule
	// Granted are the permissions the cluster allows now (left out).
	Granted []rbacv1.PolicyRule
	// Role and Binding are unset when nothing is left to grant.
	Role    any
	Binding any
}

// SuggestRBAC reads the findings that carry a user key and "permissions"
// values (policyRule() in the rule; see rules/README.md) and returns one
// suggestion per finding and namespace. A finding's "namespaces" values
// name where it was denied; an empty namespace means cluster scope, and
// then one ClusterRole is suggested for all of them. access may be nil (no
// cluster): then nothing is subtracted.
func SuggestRBAC(ctx context.Context, fs []detectors.Finding, access AccessChecker) ([]RBACSuggestion, error) {
	var out []RBACSuggestion
	for _, f := range fs {
		perms := StringValues(f.Values["permissions"])
		user := f.Key["user"]
		if len(perms) == 0 || user == "" {
			continue
		}
		var wanted []audit.PolicyRule
		for _, p := range perms {
			r, err := audit.ParsePolicyRule(p)
			if err != nil {
				return nil, fmt.Errorf("finding %s %s: %w", f.Rule, f.KeyString(), err)
			}
			wanted = append(wanted, r)
		}
		namespaces := StringValues(f.Values["namespaces"])
		clusterWide := len(namespaces) == 0
		for _, ns := range namespaces {
			if ns == "" {
				clusterWide = true
			}
		}
		if clusterWide {
			namespaces = []string{""}
		}
		subject, groups := SubjectOf(user)
		for _, ns := range namespaces {
			s := RBACSuggestion{Rule: f.Rule, User: user, Count: f.Count, Namespace: ns, Permissions: wanted}
			var needed []rbacv1.PolicyRule
			for _, w := range wanted {
				r := ToRBAC(w)
				if access != nil {
					if allowed, ok := access.Allowed(ctx, user, groups, ns, r); ok && allowed {
						s.Granted = append(s.Granted, r)
						continue
					}
				}
				needed = append(needed, r)
			}
			if len(needed) > 0 {
				s.Role, s.Binding = roleAndBinding(user, subject, ns, needed)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// ToRBAC turns one request's permission into an RBAC rule.
func ToRBAC(p audit.PolicyRule) rbacv1.PolicyRule {
	if p.Resource == "" {
		return rbacv1.PolicyRule{NonResourceURLs: []string{p.NonResourceURL}, Verbs: []string{p.Verb}}
	}
	return rbacv1.PolicyRule{APIGroups: []string{p.APIGroup}, Resources: []string{p.Resource}, Verbs: []string{p.Verb}}
}

// SubjectOf maps a username to a binding subject and the groups the
// authenticator gives it (service accounts' groups are known).
func SubjectOf(user string) (rbacv1.Subject, []string) {
	if sa := audit.ServiceAccountOf(user); sa != "" {
		ns, name, _ := strings.Cut(sa, "/")
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns},
			[]string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}, []string{"system:authenticated"}
}

var nameUnsafe = regexp.MustCompile(`[^a-z0-9.-]+`)

// RoleName is the name suggested for a subject's role over resources: a
// valid object name, "kubectl-audit:<subject>:<resources>".
func RoleName(user string, rules []rbacv1.PolicyRule) string {
	var resources []string
	for _, r := range rules {
		resources = append(resources, r.Resources...)
		resources = append(resources, r.NonResourceURLs...)
	}
	sort.Strings(resources)
	clean := func(s string) string { return strings.Trim(nameUnsafe.ReplaceAllString(strings.ToLower(s), "-"), "-") }
	return "kubectl-audit:" + clean(strings.TrimPrefix(user, "system:serviceaccount:")) + ":" + clean(strings.Join(resources, "-"))
}

func roleAndBinding(user string, subject rbacv1.Subject, namespace string, rules []rbacv1.PolicyRule) (role, binding any) {
	name := RoleName(user, rules)
	meta := metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-audit"}}
	if namespace == "" {
		return rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}, ObjectMeta: meta, Rules: rules},
			rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"}, ObjectMeta: meta,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}, Subjects: []rbacv1.Subject{subject}}
	}
	return rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: meta, Rules: rules},
		rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}, ObjectMeta: meta,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}, Subjects: []rbacv1.Subject{subject}}
}

// YAML is the suggestion as a commented YAML stream to review and apply.
func (s RBACSuggestion) YAML() (string, error) {
	perms := make([]string, len(s.Permissions))
	for i, p := range s.Permissions {
		perms[i] = p.String()
	}
	header := fmt.Sprintf("# %s: %s was denied %d times (%s)", s.Rule, s.User, s.Count, strings.Join(perms, ", "))
	if len(s.Granted) > 0 {
		granted := make([]string, len(s.Granted))
		for i, r := range s.Granted {
			granted[i] = fmt.Sprintf("%v %v %v", r.APIGroups, r.Resources, r.Verbs)
		}
		header += "\n# already allowed now, left out: " + strings.Join(granted, ", ")
	}
	if s.Role == nil {
		return header + "\n# nothing to grant: the cluster allows all of it now", nil
	}
	rb, err := yaml.Marshal(s.Role)
	if err != nil {
		return "", err
	}
	bb, err := yaml.Marshal(s.Binding)
	if err != nil {
		return "", err
	}
	// ObjectMeta marshals an empty creationTimestamp; it is noise here.
	clean := func(b []byte) string { return strings.ReplaceAll(string(b), "  creationTimestamp: null\n", "") }
	return header + "\n" + clean(rb) + "---\n" + clean(bb), nil
}

// StringValues reads a finding value that holds strings (values(...),
// a string, or a list of them).
func StringValues(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		if x != "" {
			return []string{x}
		}
	}
	return nil
}
