package audit

import "testing"

func TestPolicyRuleRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rule PolicyRule
		want string
	}{
		{"core", PolicyRule{Resource: "secrets", Verb: "list"}, `{apiGroups: [""], resources: ["secrets"], verbs: ["list"]}`},
		{"subresource", PolicyRule{Resource: "pods/exec", Verb: "create"}, `{apiGroups: [""], resources: ["pods/exec"], verbs: ["create"]}`},
		{"group", PolicyRule{APIGroup: "apps", Resource: "deployments", Verb: "patch"}, `{apiGroups: ["apps"], resources: ["deployments"], verbs: ["patch"]}`},
		{"non-resource", PolicyRule{NonResourceURL: "/metrics", Verb: "get"}, `{nonResourceURLs: ["/metrics"], verbs: ["get"]}`},
		{"quotes", PolicyRule{APIGroup: `we"ird`, Resource: "x", Verb: "get"}, `{apiGroups: ["we\"ird"], resources: ["x"], verbs: ["get"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rule.String(); got != tt.want {
				t.Fatalf("String() = %s, want %s", got, tt.want)
			}
			back, err := ParsePolicyRule(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if back != tt.rule {
				t.Fatalf("ParsePolicyRule = %+v, want %+v", back, tt.rule)
			}
		})
	}
}

func TestParsePolicyRuleErrors(t *testing.T) {
	for _, s := range []string{
		``, `apiGroups: [""]`, `{apiGroups: [""], verbs: ["get"]}`, `{resources: [pods], verbs: ["get"]}`,
		`{resources: ["pods"], verbs: ["get"], colour: ["red"]}`, `{resources: ["pods"], verbs: ["get"`,
		`{resources: ["pods"], nonResourceURLs: ["/x"], verbs: ["get"]}`,
	} {
		if r, err := ParsePolicyRule(s); err == nil {
			t.Errorf("ParsePolicyRule(%q) = %+v, want an error", s, r)
		}
	}
}
