package rules

import (
	"fmt"
	"testing"

	exprparser "github.com/expr-lang/expr/parser"
)

// TestBodyNeeds: the body paths a match is false without, for the forms
// bodyNeeds knows, and nil where a match could hold (or fail) with every
// path absent.
func TestBodyNeeds(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`true in getAll("requestObject.spec.containers.*.securityContext.privileged")`, `[[requestObject spec containers * securityContext privileged]]`},
		{`get("requestObject.spec.hostPID") == true || get("responseObject.spec.hostIPC") == true`, `[[requestObject spec hostPID] [responseObject spec hostIPC]]`},
		{`"*" == get("requestObject.verb")`, `[[requestObject verb]]`},
		{`(get("requestObject.roleRef.name") ?? get("responseObject.roleRef.name")) == "cluster-admin"`, `[[requestObject roleRef name] [responseObject roleRef name]]`},
		{`len(getAll("requestObject.spec.volumes.*.hostPath.path")) > 0`, `[[requestObject spec volumes * hostPath path]]`},
		{`len(getAll("requestObject.a")) >= 1`, `[[requestObject a]]`},
		{`any(["bind", "escalate"], # in getAll("requestObject.rules.*.verbs"))`, `[[requestObject rules * verbs]]`},
		{`resource == "pods" && verb == "create" && true in getAll("requestObject.x")`, `[[requestObject x]]`},
		{`true in getAll("requestObject.x") && user != "a"`, `[[requestObject x]]`},
		// Not known: a match that can hold, or fail, with the paths absent.
		{`get("requestObject.spec.hostPID") != true`, `[]`},
		{`get("requestObject.a") == nil`, `[]`},
		{`(get("requestObject.a") ?? name) == "x"`, `[]`},
		{`len(getAll("requestObject.a")) >= 0`, `[]`},
		{`len(getAll("requestObject.a")) > -1`, `[]`},
		{`get("requestObject.a") == true || code == 200`, `[]`},
		{`seconds(annotation("x")) > 1 && true in getAll("requestObject.a")`, `[]`},
		{`user matches "x" && true in getAll("requestObject.a")`, `[]`},
		{`upper(name) in getAll("requestObject.a")`, `[]`},
		{`any([name], # in getAll("requestObject.a"))`, `[]`},
		{`any(getAll("requestObject.b"), # in getAll("requestObject.a"))`, `[]`},
		{`true in getAll("metadata.name")`, `[]`},
		{`true in getAll("requestObject")`, `[]`},
		{`!(true in getAll("requestObject.a"))`, `[]`},
	} {
		t.Run(tc.src, func(t *testing.T) {
			tree, err := exprparser.Parse(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(bodyNeeds(tree.Node)); got != tc.want {
				t.Errorf("bodyNeeds = %s, want %s", got, tc.want)
			}
		})
	}
}
