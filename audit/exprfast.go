package audit

import (
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// ExprOptions are the options an expression over one event (a --where, a
// rule's match, group_by and values arguments) compiles with: ExprEnv's
// names, and its functions whose Go types expr can only call through
// reflection (get, getAll, mutatingWebhooks; ~1 µs a call) turned into
// direct calls.
func ExprOptions() []expr.Option {
	return []expr.Option{
		expr.Env(ExprEnv{}),
		expr.Function(fastGet, func(p ...any) (any, error) {
			return envOf(p[0]).Get(p[1].(string)), nil
		}, new(func(any, string) any)),
		expr.Function(fastGetAll, func(p ...any) (any, error) {
			return envOf(p[0]).GetAll(p[1].(string)), nil
		}, new(func(any, string) []any)),
		expr.Function(fastMutatingWebhooks, func(p ...any) (any, error) {
			return envOf(p[0]).MutatingWebhooks(), nil
		}, new(func(any) []string)),
		expr.Patch(fastCalls{}),
	}
}

const (
	fastGet              = "__get"
	fastGetAll           = "__getAll"
	fastMutatingWebhooks = "__mutatingWebhooks"
)

// fast are the functions fastCalls rewrites, with the number of arguments
// they take.
var fast = map[string]struct {
	name  string
	nargs int
}{
	"get":              {fastGet, 1},
	"getAll":           {fastGetAll, 1},
	"mutatingWebhooks": {fastMutatingWebhooks, 0},
}

// envOf is the environment an expression runs on ($env): the *ExprEnv
// given to vm.Run (or an ExprEnv value); anything else (a rule calling
// __get itself) gets one set to no event, whose functions find nothing.
func envOf(v any) *ExprEnv {
	switch x := v.(type) {
	case *ExprEnv:
		return x
	case ExprEnv:
		return &x
	}
	return NewExprEnv()
}

// fastCalls rewrites get(p) into __get($env, p) (and so on for the others
// in fast) where the call is well typed, so that expr calls a function it
// knows instead of the environment's func field through reflection. Calls
// it leaves alone (a number for a path) fail type checking with their own
// names.
type fastCalls struct{}

func (fastCalls) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	f, ok := fast[id.Value]
	if !ok || len(call.Arguments) != f.nargs {
		return
	}
	for _, a := range call.Arguments {
		if t := a.Type(); t == nil || t.Kind().String() != "string" {
			return
		}
	}
	args := append([]ast.Node{&ast.IdentifierNode{Value: "$env"}}, call.Arguments...)
	ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: f.name}, Arguments: args})
}
