package audit

import (
	"reflect"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// TestExprFastCalls: with ExprOptions, get, getAll and mutatingWebhooks
// are direct calls (no reflection) and give what the environment's func
// fields give; calls that do not type-check fail as they did, under
// their own names.
func TestExprFastCalls(t *testing.T) {
	for _, tc := range []struct {
		src  string
		fast string // the function the program calls, "" for none
	}{
		{`get("objectRef.resource")`, fastGet},
		{`get("requestObject.spec.containers")`, fastGet},
		{`get("no.such.path") ?? "none"`, fastGet},
		{`getAll("requestObject.spec.containers.*.image")`, fastGetAll},
		{`true in getAll("requestObject.spec.containers.*.securityContext.privileged")`, fastGetAll},
		{`mutatingWebhooks()`, fastMutatingWebhooks},
		{`len(mutatingWebhooks()) > 0 || get("verb") == verb`, fastGet},
		{`has("requestObject.spec")`, ""},
	} {
		t.Run(tc.src, func(t *testing.T) {
			fastProg, err := expr.Compile(tc.src, ExprOptions()...)
			if err != nil {
				t.Fatal(err)
			}
			slowProg, err := expr.Compile(tc.src, expr.Env(ExprEnv{}))
			if err != nil {
				t.Fatal(err)
			}
			dis := fastProg.Disassemble()
			if tc.fast != "" && !strings.Contains(dis, tc.fast) {
				t.Errorf("does not call %s:\n%s", tc.fast, dis)
			}
			env := NewExprEnv()
			env.Require(nil)
			for i, line := range testEvents(t) {
				var e Event
				if !e.Scan(line) {
					t.Fatalf("line %d: not an event", i+1)
				}
				env.Set(&e)
				var m vm.VM
				got, err1 := m.Run(fastProg, env)
				want, err2 := m.Run(slowProg, env)
				if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(got, want) {
					t.Fatalf("line %d: %v (%v), want %v (%v)", i+1, got, err1, want, err2)
				}
			}
		})
	}
	for _, src := range []string{`get(1)`, `getAll(verb == "get")`, `mutatingWebhooks("x")`} {
		if _, err := expr.Compile(src, ExprOptions()...); err == nil || strings.Contains(err.Error(), "__") {
			t.Errorf("%s: error %v, want one that names the function as written", src, err)
		}
	}
}
