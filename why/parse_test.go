package why

import (
	"reflect"
	"testing"
)

func TestParseReason(t *testing.T) {
	tests := []struct {
		name, reason string
		want         Authorization
		summary      string
	}{
		{"rolebinding to group", `RBAC: allowed by RoleBinding "developers-deployer/shop" of Role "deployer" to Group "developers"`,
			Authorization{Decision: "allow", Authorizer: "RBAC", BindingKind: "RoleBinding", BindingName: "developers-deployer", BindingNamespace: "shop",
				RoleKind: "Role", RoleName: "deployer", SubjectKind: "Group", SubjectName: "developers"},
			"RoleBinding shop/developers-deployer → Role deployer (Group developers)"},
		{"clusterrolebinding to service account", `RBAC: allowed by ClusterRoleBinding "system:controller:gc" of ClusterRole "system:controller:gc" to ServiceAccount "generic-garbage-collector/kube-system"`,
			Authorization{Decision: "allow", Authorizer: "RBAC", BindingKind: "ClusterRoleBinding", BindingName: "system:controller:gc",
				RoleKind: "ClusterRole", RoleName: "system:controller:gc", SubjectKind: "ServiceAccount", SubjectName: "generic-garbage-collector", SubjectNamespace: "kube-system"},
			"ClusterRoleBinding system:controller:gc → ClusterRole system:controller:gc"},
		{"rolebinding of clusterrole to user", `RBAC: allowed by RoleBinding "edit/team-a" of ClusterRole "edit" to User "alice"`,
			Authorization{Decision: "allow", Authorizer: "RBAC", BindingKind: "RoleBinding", BindingName: "edit", BindingNamespace: "team-a",
				RoleKind: "ClusterRole", RoleName: "edit", SubjectKind: "User", SubjectName: "alice"},
			"RoleBinding team-a/edit → ClusterRole edit"},
		{"other authorizer", `Webhook: allowed by policy`, Authorization{Decision: "allow", Authorizer: "Webhook"}, "allow: Webhook: allowed by policy"},
		{"empty", ``, Authorization{Decision: "allow"}, "allow"},
		{"malformed quotes", `RBAC: allowed by RoleBinding "x`, Authorization{Decision: "allow", Authorizer: "RBAC"}, `allow: RBAC: allowed by RoleBinding "x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseReason("allow", tt.reason)
			tt.want.Reason = tt.reason
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseReason = %+v\nwant %+v", got, tt.want)
			}
			if s := got.Summary(); s != tt.summary {
				t.Errorf("Summary = %q, want %q", s, tt.summary)
			}
		})
	}
}

func TestResolveResource(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"deploy", "deployments.apps", false},
		{"deployment", "deployments.apps", false},
		{"Deployments", "deployments.apps", false},
		{"deployments.apps", "deployments.apps", false},
		{"deployments.v1.apps", "deployments.apps", false},
		{"po", "pods", false},
		{"pods", "pods", false},
		{"rs", "replicasets.apps", false},
		{"svc", "services", false},
		{"cm", "configmaps", false},
		{"secret", "secrets", false},
		{"sa", "serviceaccounts", false},
		{"clusterrolebinding", "clusterrolebindings.rbac.authorization.k8s.io", false},
		{"widgets.example.com", "widgets.example.com", false},
		{"deployments.batch", "", true},
		{"frobnicator", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ResolveResource(tt.in, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && r.Key() != tt.want {
				t.Errorf("got %s, want %s", r.Key(), tt.want)
			}
		})
	}
}

func TestParseObjectArgs(t *testing.T) {
	tests := []struct {
		args      []string
		typ, name string
		wantErr   bool
	}{
		{[]string{"deployment/checkout"}, "deployment", "checkout", false},
		{[]string{"deploy", "checkout"}, "deploy", "checkout", false},
		{[]string{"deployment"}, "", "", true},
		{[]string{"deployment/"}, "", "", true},
		{[]string{"a/b", "c"}, "", "", true},
		{[]string{"a", "b", "c"}, "", "", true},
	}
	for _, tt := range tests {
		typ, name, err := ParseObjectArgs(tt.args)
		if (err != nil) != tt.wantErr || typ != tt.typ || name != tt.name {
			t.Errorf("ParseObjectArgs(%q) = %q, %q, %v", tt.args, typ, name, err)
		}
	}
}

func TestJSONPatchChanges(t *testing.T) {
	tests := []struct {
		name, patch string
		want        []string
	}{
		{"webhook env injection", `[{"op":"add","path":"/spec/containers/0/env","value":[{"name":"A","value":"1"}]}]`,
			[]string{"spec.containers[0].env[A].name: A", "spec.containers[0].env[A].value: 1"}},
		{"replace scalar", `[{"op":"replace","path":"/spec/replicas","value":3}]`, []string{"spec.replicas: 3"}},
		{"remove escaped key", `[{"op":"remove","path":"/metadata/labels/app.kubernetes.io~1name"}]`, []string{"metadata.labels[app.kubernetes.io/name]: (removed)"}},
		{"not a patch", `{"op":"add"}`, nil},
		{"garbage", `[{`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range jsonPatchChanges([]byte(tt.patch)) {
				got = append(got, c.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWebhookAnnotations(t *testing.T) {
	var c webhookCollector
	c.add("mutation.webhook.admission.k8s.io/round_0_index_1", `{"configuration":"b","webhook":"b.example.com","mutated":false}`, false)
	c.add("mutation.webhook.admission.k8s.io/round_0_index_0", `{"configuration":"a","webhook":"a.example.com","mutated":true}`, false)
	c.add("patch.webhook.admission.k8s.io/round_0_index_0", `{"configuration":"a","webhook":"a.example.com","patch":[{"op":"add","path":"/x","value":1}],"patchType":"JSONPatch"}`, false)
	c.add("mutation.webhook.admission.k8s.io/round_x_index_0", `{}`, false)
	c.add("mutation.webhook.admission.k8s.io/round_1_index_0", `not json`, false)
	c.add("authorization.k8s.io/decision", `allow`, false)
	got := c.list()
	want := []Webhook{
		{Round: 0, Index: 0, Configuration: "a", Webhook: "a.example.com", Mutated: true, PatchType: "JSONPatch", Patch: []FieldChange{{Path: "x", To: "1"}}},
		{Round: 0, Index: 1, Configuration: "b", Webhook: "b.example.com"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}
