package rules

import (
	"strings"

	"github.com/expr-lang/expr/ast"
)

// bodyNeeds finds body paths a match cannot be true without: when the
// value at every one is absent (get gives nil, getAll nothing), the match
// is false, and evaluates without an error. It returns nil when it cannot
// tell. The runtime asks the event (audit.Event.Absent), which answers
// without parsing the body, and runs no program for the many pods whose
// spec sets none of hostNetwork, privileged, a hostPath.
//
// The forms it knows, P a path into requestObject or responseObject:
//
//	X in getAll(P)              (X a literal or #; in an empty list: false)
//	get(P) == literal           (nil equals no literal; != is not known)
//	(get(P) ?? get(Q)) == literal
//	len(getAll(P)) > n, n >= 0  (and >= n, n >= 1)
//	any([literals], <a form>)   (false for every element)
//	A || B                      (both known: the union)
//	A && B                      (A known; or B, after an A analyzed exactly)
//
// None of them fails when its paths are absent, so no error a rule would
// have reported is left out.
func bodyNeeds(n ast.Node) [][]string {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "||", "or":
			l, r := bodyNeeds(n.Left), bodyNeeds(n.Right)
			if l == nil || r == nil {
				return nil
			}
			return append(l, r...)
		case "&&", "and":
			// The left side false ends the evaluation; the right side
			// is reached only after a left side that cannot fail: field
			// comparisons the prefilter analyzes exactly.
			if l := bodyNeeds(n.Left); l != nil {
				return l
			}
			if analyze(n.Left).exact {
				return bodyNeeds(n.Right)
			}
		case "in":
			_, pointer := n.Left.(*ast.PointerNode)
			if !pointer && !isLiteral(n.Left) {
				return nil
			}
			if p, ok := bodyCall(n.Right, "getAll"); ok {
				return [][]string{p}
			}
		case "==":
			if isLiteral(n.Right) {
				return nilWhenAbsent(n.Left)
			}
			if isLiteral(n.Left) {
				return nilWhenAbsent(n.Right)
			}
		case ">", ">=":
			b, ok := n.Left.(*ast.BuiltinNode)
			k, isInt := n.Right.(*ast.IntegerNode)
			if !ok || !isInt || b.Name != "len" || len(b.Arguments) != 1 {
				return nil
			}
			if n.Operator == ">" && k.Value < 0 || n.Operator == ">=" && k.Value < 1 {
				return nil
			}
			if p, ok := bodyCall(b.Arguments[0], "getAll"); ok {
				return [][]string{p}
			}
		}
	case *ast.BuiltinNode:
		if n.Name != "any" || len(n.Arguments) != 2 {
			return nil
		}
		list, ok := n.Arguments[0].(*ast.ArrayNode)
		if !ok {
			return nil
		}
		for _, x := range list.Nodes {
			if !isLiteral(x) {
				return nil
			}
		}
		if p, ok := n.Arguments[1].(*ast.PredicateNode); ok {
			return bodyNeeds(p.Node)
		}
	}
	return nil
}

// nilWhenAbsent is the paths a value is nil without: get(P), or a ?? of
// such values.
func nilWhenAbsent(n ast.Node) [][]string {
	if p, ok := bodyCall(n, "get"); ok {
		return [][]string{p}
	}
	if b, ok := n.(*ast.BinaryNode); ok && b.Operator == "??" {
		l, r := nilWhenAbsent(b.Left), nilWhenAbsent(b.Right)
		if l != nil && r != nil {
			return append(l, r...)
		}
	}
	return nil
}

// bodyCall recognises fn("requestObject.…") or fn("responseObject.…")
// and returns the path's segments.
func bodyCall(n ast.Node, fn string) ([]string, bool) {
	path, ok := stringCall(n, fn)
	if !ok {
		return nil, false
	}
	p := strings.Split(path, ".")
	if len(p) < 2 || p[0] != "requestObject" && p[0] != "responseObject" {
		return nil, false
	}
	return p, true
}

// isLiteral reports whether n is a constant no absent value equals.
func isLiteral(n ast.Node) bool {
	switch n.(type) {
	case *ast.BoolNode, *ast.StringNode, *ast.IntegerNode, *ast.FloatNode:
		return true
	}
	return false
}
