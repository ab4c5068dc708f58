package cmd

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/detectors"
)

const allNamespaces = "(all namespaces)"

// writeRBAC prints, for each finding of RBAC denials, the smallest Role or
// ClusterRole and binding that would allow what was denied, as YAML to
// review and kubectl apply. With a reachable cluster, permissions the
// subject already has (a SubjectAccessReview says allowed) are left out, so
// nothing already granted is suggested.
func writeRBAC(ctx context.Context, w io.Writer, fs []detectors.Finding, l *cluster.Linker) error {
	var docs []string
	for _, f := range fs {
		perms := stringValues(f.Values["permissions"])
		user := f.Key["user"]
		if len(perms) == 0 || user == "" {
			continue
		}
		var rules []rbacv1.PolicyRule
		for _, p := range perms {
			var r rbacv1.PolicyRule
			if err := yaml.Unmarshal([]byte(p), &r); err != nil {
				return fmt.Errorf("finding %s %s: permission %q: %w", f.Rule, f.KeyString(), p, err)
			}
			rules = append(rules, r)
		}
		namespaces := stringValues(f.Values["namespaces"])
		clusterWide := len(namespaces) == 0
		for _, ns := range namespaces {
			if ns == allNamespaces {
				clusterWide = true
			}
		}
		if clusterWide {
			namespaces = []string{""}
		}
		subject, groups := subjectOf(user)
		for _, ns := range namespaces {
			var needed []rbacv1.PolicyRule
			var granted []string
			for _, r := range rules {
				if l != nil {
					if allowed, ok := l.Allowed(ctx, user, groups, ns, r); ok && allowed {
						granted = append(granted, ruleString(r))
						continue
					}
				}
				needed = append(needed, r)
			}
			header := fmt.Sprintf("# %s: %s was denied %d times (%s)", f.Rule, user, f.Count, strings.Join(perms, ", "))
			if len(granted) > 0 {
				header += fmt.Sprintf("\n# already allowed now, left out: %s", strings.Join(granted, ", "))
			}
			if len(needed) == 0 {
				docs = append(docs, header+"\n# nothing to grant: the cluster allows all of it now")
				continue
			}
			docs = append(docs, header+"\n"+rbacYAML(user, subject, ns, needed))
		}
	}
	if len(docs) == 0 {
		_, err := fmt.Fprintln(w, "# no RBAC denials to grant")
		return err
	}
	_, err := fmt.Fprintln(w, strings.Join(docs, "\n---\n"))
	return err
}

// subjectOf maps a username to a binding subject and the groups the
// authenticator gives it (service accounts' groups are known).
func subjectOf(user string) (rbacv1.Subject, []string) {
	if sa := audit.ServiceAccountOf(user); sa != "" {
		ns, name, _ := strings.Cut(sa, "/")
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns},
			[]string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}, []string{"system:authenticated"}
}

var nameUnsafe = regexp.MustCompile(`[^a-z0-9.-]+`)

func rbacYAML(user string, subject rbacv1.Subject, namespace string, rules []rbacv1.PolicyRule) string {
	var resources []string
	for _, r := range rules {
		resources = append(resources, r.Resources...)
	}
	sort.Strings(resources)
	name := "kubectl-audit:" + strings.Trim(nameUnsafe.ReplaceAllString(strings.ToLower(strings.TrimPrefix(user, "system:serviceaccount:")), "-"), "-") +
		":" + strings.Trim(nameUnsafe.ReplaceAllString(strings.Join(resources, "-"), "-"), "-")
	meta := metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-audit"}}
	var role, binding any
	if namespace == "" {
		role = rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}, ObjectMeta: meta, Rules: rules}
		binding = rbacv1.ClusterRoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"}, ObjectMeta: meta,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}, Subjects: []rbacv1.Subject{subject}}
	} else {
		role = rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: meta, Rules: rules}
		binding = rbacv1.RoleBinding{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}, ObjectMeta: meta,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}, Subjects: []rbacv1.Subject{subject}}
	}
	rb, _ := yaml.Marshal(role)
	bb, _ := yaml.Marshal(binding)
	return cleanYAML(string(rb)) + "---\n" + cleanYAML(string(bb))
}

// cleanYAML drops the empty creationTimestamp that ObjectMeta marshals.
func cleanYAML(s string) string {
	return strings.ReplaceAll(s, "  creationTimestamp: null\n", "")
}

func ruleString(r rbacv1.PolicyRule) string {
	return fmt.Sprintf("%v %v %v", r.APIGroups, r.Resources, r.Verbs)
}
