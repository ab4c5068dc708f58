package cmd

import (
	"strings"
	"testing"
)

// TestSecretsNeverPrinted: what expressions read from the bodies of
// secrets, tokens and token reviews is printed only with --show-secrets,
// by top's expr: keys and by detect's keys, values and summaries; a
// ConfigMap's body prints as it is, and tests (match, --where) still see
// secret bodies.
func TestSecretsNeverPrinted(t *testing.T) {
	const log = "testdata/secrets/audit.log"
	secrets := []string{"SECRET-TOKEN-VALUE", "U0VDUkVULVBBU1NXT1JE"}
	tests := []struct {
		name string
		args []string
		// want: in the output; show: whether secrets must appear
		want []string
		show bool
	}{
		{"top expr key", []string{"top", "--by", `expr:get("requestObject.spec.token") ?? get("requestObject.data.password") ?? get("requestObject.data.mode")`},
			[]string{"<redacted ", "plain-config-value"}, false},
		{"top where still tests", []string{"top", "--by", "user", "--where", `get("requestObject.spec.token") contains "SECRET"`},
			[]string{"system:serviceaccount:kube-system:metrics-server"}, false},
		{"top json", []string{"top", "-o", "json", "--by", `expr:string(get("requestObject.data"))`},
			[]string{"redacted ", "plain-config-value"}, false},
		{"top --show-secrets", []string{"top", "--show-secrets", "--by", `expr:get("requestObject.spec.token") ?? ""`},
			[]string{"SECRET-TOKEN-VALUE"}, true},
		{"detect", []string{"detect", "--rules", "testdata/secrets/rules.yaml", "--rule", "body-reader", "-o", "json"},
			[]string{"redacted ", "plain-config-value", `"first": "\u003credacted `}, false},
		{"detect table", []string{"detect", "--rules", "testdata/secrets/rules.yaml", "--rule", "body-reader"},
			[]string{"<redacted "}, false},
		{"detect --show-secrets", []string{"detect", "--show-secrets", "--rules", "testdata/secrets/rules.yaml", "--rule", "body-reader", "-o", "json"},
			[]string{"SECRET-TOKEN-VALUE", "U0VDUkVULVBBU1NXT1JE", `"first": "alice"`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runCmd(t, "", append(tt.args, "-q", "--no-link", "-f", log)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if !tt.show {
				for _, s := range secrets {
					if strings.Contains(out+errOut, s) {
						t.Errorf("secret %q printed:\n%s", s, out)
					}
				}
			}
		})
	}
}
