package cluster

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubectl-audit/kubectl-audit/detectors"
)

// allowList allows the rules whose resource is listed, in any namespace.
type allowList map[string]bool

func (a allowList) Allowed(_ context.Context, _ string, _ []string, _ string, r rbacv1.PolicyRule) (bool, bool) {
	return len(r.Resources) == 1 && a[r.Resources[0]], true
}

func TestSuggestRBAC(t *testing.T) {
	secrets := `{apiGroups: [""], resources: ["secrets"], verbs: ["list"]}`
	exec := `{apiGroups: [""], resources: ["pods/exec"], verbs: ["create"]}`
	tests := []struct {
		name   string
		user   string
		perms  []string
		ns     []string
		access AccessChecker
		// want: per suggestion, "namespace kind roleName" or "namespace -" when nothing is left
		want []string
	}{
		{"cluster scope", "system:serviceaccount:traefik:traefik", []string{secrets}, []string{""}, nil,
			[]string{" ClusterRole kubectl-audit:traefik-traefik:secrets"}},
		{"cluster scope wins over namespaces", "alice", []string{secrets}, []string{"demo", ""}, nil,
			[]string{" ClusterRole kubectl-audit:alice:secrets"}},
		{"per namespace", "Bob@Example.com", []string{exec}, []string{"a", "b"}, nil,
			[]string{"a Role kubectl-audit:bob-example.com:pods-exec", "b Role kubectl-audit:bob-example.com:pods-exec"}},
		{"no namespaces value means cluster scope", "alice", []string{exec}, nil, nil,
			[]string{" ClusterRole kubectl-audit:alice:pods-exec"}},
		{"already allowed is left out", "alice", []string{secrets, exec}, []string{"demo"}, allowList{"secrets": true},
			[]string{"demo Role kubectl-audit:alice:pods-exec"}},
		{"all allowed", "alice", []string{secrets}, []string{"demo"}, allowList{"secrets": true},
			[]string{"demo -"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := detectors.Finding{Rule: "rbac-denied", Key: map[string]string{"user": tt.user}, KeyNames: []string{"user"}, Count: 3,
				Values: map[string]any{"permissions": tt.perms}}
			if tt.ns != nil {
				f.Values["namespaces"] = tt.ns
			}
			got, err := SuggestRBAC(context.Background(), []detectors.Finding{f}, tt.access)
			if err != nil {
				t.Fatal(err)
			}
			var desc []string
			for _, s := range got {
				switch r := s.Role.(type) {
				case rbacv1.ClusterRole:
					desc = append(desc, s.Namespace+" ClusterRole "+r.Name)
				case rbacv1.Role:
					desc = append(desc, s.Namespace+" Role "+r.Name)
				default:
					desc = append(desc, s.Namespace+" -")
				}
				y, err := s.YAML()
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(y, "# rbac-denied: "+tt.user+" was denied 3 times") {
					t.Errorf("YAML header: %s", y)
				}
			}
			if strings.Join(desc, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", desc, tt.want)
			}
		})
	}
}

func TestSuggestRBACBadPermission(t *testing.T) {
	f := detectors.Finding{Rule: "mine", Key: map[string]string{"user": "alice"}, KeyNames: []string{"user"},
		Values: map[string]any{"permissions": []string{"list secrets"}}}
	_, err := SuggestRBAC(context.Background(), []detectors.Finding{f}, nil)
	if err == nil || !strings.Contains(err.Error(), "finding mine user=alice") {
		t.Fatalf("err = %v, want one naming the finding", err)
	}
}

func TestSubjectOf(t *testing.T) {
	s, groups := SubjectOf("system:serviceaccount:kube-system:gc")
	if s.Kind != "ServiceAccount" || s.Namespace != "kube-system" || s.Name != "gc" || len(groups) != 3 {
		t.Errorf("service account: %+v %v", s, groups)
	}
	s, _ = SubjectOf("alice")
	if s.Kind != "User" || s.Name != "alice" || s.APIGroup != rbacv1.GroupName {
		t.Errorf("user: %+v", s)
	}
}
