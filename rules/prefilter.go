package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// Prefilter is what a rule's match says about a handful of cheap event
// fields, read from the expression's top-level && / || / ! structure. It
// over-approximates the match: an event outside it can never match, so the
// runtime indexes rules by it and evaluates a rule's expression only for
// the events its prefilter admits. A nil dimension admits everything.
type Prefilter struct {
	Verb        *StrSet
	Resource    *StrSet
	Subresource *StrSet
	APIGroup    *StrSet
	Stage       *StrSet
	Decision    *StrSet
	APIVersion  *StrSet
	Namespace   *StrSet
	// Impersonated is "yes" for events with an impersonatedUser, else "no".
	Impersonated *StrSet
	Code         *CodeSet
	User         *UserSet
	// MinLatency: latency (seconds) is at least this; 0 for any.
	MinLatency float64
	// Annotations are keys the event must have (a non-empty value).
	Annotations []string
}

// Empty reports a prefilter that admits every event.
func (p Prefilter) Empty() bool { return p.dims() == 0 }

// Filter is a disjunction of prefilters: an event may match when one of
// them admits it.
type Filter []Prefilter

// Empty reports a filter that admits every event.
func (f Filter) Empty() bool {
	for _, p := range f {
		if p.Empty() {
			return true
		}
	}
	return len(f) == 0
}

func (f Filter) String() string {
	if len(f) == 0 {
		return "no event"
	}
	parts := make([]string, len(f))
	for i, p := range f {
		parts[i] = p.String()
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ") or (") + ")"
}

func (p Prefilter) dims() int {
	n := 0
	for _, s := range p.strs() {
		if s != nil {
			n++
		}
	}
	if p.Code != nil {
		n++
	}
	if p.User != nil {
		n++
	}
	if p.MinLatency > 0 {
		n++
	}
	if len(p.Annotations) > 0 {
		n++
	}
	return n
}

func (p Prefilter) strs() []*StrSet {
	return []*StrSet{p.Verb, p.Resource, p.Subresource, p.APIGroup, p.Stage, p.Decision, p.APIVersion, p.Namespace, p.Impersonated}
}

// String describes the prefilter for `rules show` and lint.
func (p Prefilter) String() string {
	var parts []string
	add := func(name string, s *StrSet) {
		if s != nil {
			parts = append(parts, name+" "+s.String())
		}
	}
	add("verb", p.Verb)
	add("resource", p.Resource)
	add("subresource", p.Subresource)
	add("apiGroup", p.APIGroup)
	add("stage", p.Stage)
	add("decision", p.Decision)
	add("apiVersion", p.APIVersion)
	add("namespace", p.Namespace)
	add("impersonated", p.Impersonated)
	if p.Code != nil {
		parts = append(parts, "code "+p.Code.String())
	}
	if p.User != nil {
		parts = append(parts, "user "+p.User.String())
	}
	if p.MinLatency > 0 {
		parts = append(parts, fmt.Sprintf("latency >= %gs", p.MinLatency))
	}
	if len(p.Annotations) > 0 {
		parts = append(parts, "annotations "+strings.Join(p.Annotations, ", "))
	}
	if len(parts) == 0 {
		return "every event"
	}
	return strings.Join(parts, ", ")
}

// StrSet is a set of strings, or its complement when Neg.
type StrSet struct {
	Neg  bool
	Vals map[string]bool
}

func newStrSet(vals ...string) *StrSet {
	s := &StrSet{Vals: map[string]bool{}}
	for _, v := range vals {
		s.Vals[v] = true
	}
	return s
}

// Has reports whether v is in the set.
func (s *StrSet) Has(v string) bool { return s == nil || s.Vals[v] != s.Neg }

func (s *StrSet) String() string {
	vals := make([]string, 0, len(s.Vals))
	for v := range s.Vals {
		vals = append(vals, `"`+v+`"`)
	}
	sort.Strings(vals)
	if s.Neg {
		return "not in [" + strings.Join(vals, ", ") + "]"
	}
	return "in [" + strings.Join(vals, ", ") + "]"
}

func strAnd(a, b *StrSet) *StrSet {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := &StrSet{Vals: map[string]bool{}}
	switch {
	case !a.Neg && !b.Neg:
		for v := range a.Vals {
			if b.Vals[v] {
				out.Vals[v] = true
			}
		}
	case a.Neg && b.Neg:
		out.Neg = true
		for v := range a.Vals {
			out.Vals[v] = true
		}
		for v := range b.Vals {
			out.Vals[v] = true
		}
	default:
		pos, neg := a, b
		if a.Neg {
			pos, neg = b, a
		}
		for v := range pos.Vals {
			if !neg.Vals[v] {
				out.Vals[v] = true
			}
		}
	}
	return out
}

func strNot(a *StrSet) *StrSet {
	out := &StrSet{Neg: !a.Neg, Vals: map[string]bool{}}
	for v := range a.Vals {
		out.Vals[v] = true
	}
	return out
}

func strOr(a, b *StrSet) *StrSet {
	if a == nil || b == nil {
		return nil
	}
	// a ∪ b = ¬(¬a ∩ ¬b)
	return strNot(strAnd(strNot(a), strNot(b)))
}

// CodeSet is a set of response codes 0..1022; 1023 stands for any other.
type CodeSet struct{ b [16]uint64 }

// CodeIndex maps a response code to its slot in a CodeSet.
func CodeIndex(code int) int {
	if code < 0 || code > 1022 {
		return 1023
	}
	return code
}

// Has reports whether code is in the set.
func (c *CodeSet) Has(code int) bool {
	if c == nil {
		return true
	}
	i := CodeIndex(code)
	return c.b[i/64]&(1<<(i%64)) != 0
}

func (c *CodeSet) add(i int) { c.b[i/64] |= 1 << (i % 64) }

func codeRange(lo, hi int) *CodeSet { // [lo, hi], clamped
	c := &CodeSet{}
	for i := max(lo, 0); i <= min(hi, 1023); i++ {
		c.add(i)
	}
	return c
}

func (c *CodeSet) String() string {
	var parts []string
	for i := 0; i < 1024; {
		if !c.Has(i) {
			i++
			continue
		}
		j := i
		for j+1 < 1024 && c.b[(j+1)/64]&(1<<((j+1)%64)) != 0 {
			j++
		}
		if j == i {
			parts = append(parts, itoa(i))
		} else {
			parts = append(parts, itoa(i)+"-"+itoa(j))
		}
		i = j + 1
	}
	return "in [" + strings.Join(parts, ", ") + "]"
}

func itoa(i int) string {
	if i == 1023 {
		return "other"
	}
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}

func codeAnd(a, b *CodeSet) *CodeSet {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := &CodeSet{}
	for i := range out.b {
		out.b[i] = a.b[i] & b.b[i]
	}
	return out
}

func codeOr(a, b *CodeSet) *CodeSet {
	if a == nil || b == nil {
		return nil
	}
	out := &CodeSet{}
	for i := range out.b {
		out.b[i] = a.b[i] | b.b[i]
	}
	return out
}

func codeNot(a *CodeSet) *CodeSet {
	out := &CodeSet{}
	for i := range out.b {
		out.b[i] = ^a.b[i]
	}
	return out
}

// User classes: an event's user falls in one of 64 classes made of these
// flags, cheap to compute from the user name (and, for UserHasNode, the
// bound-token node-name extra).
const (
	UserEmpty     = 1 << iota // no user name: failed authentication
	UserAnonymous             // system:anonymous
	UserNode                  // system:node:<name>
	UserSA                    // system:serviceaccount:...
	UserSystem                // system:...
	UserHasNode               // the node field is set (node user, or bound token with node-name)
)

// UserFlags classifies a user name; hasNode is whether the event's node
// field is set.
func UserFlags(user string, hasNode bool) int {
	f := 0
	switch {
	case user == "":
		f |= UserEmpty
	case strings.HasPrefix(user, "system:"):
		f |= UserSystem
		switch {
		case user == "system:anonymous":
			f |= UserAnonymous
		case strings.HasPrefix(user, "system:node:"):
			f |= UserNode
		case strings.HasPrefix(user, "system:serviceaccount:"):
			f |= UserSA
		}
	}
	if hasNode {
		f |= UserHasNode
	}
	return f
}

// UserSet is a set of user classes.
type UserSet struct{ Mask uint64 }

// Has reports whether a class (UserFlags) is in the set.
func (u *UserSet) Has(flags int) bool { return u == nil || u.Mask&(1<<uint(flags)) != 0 }

func (u *UserSet) String() string {
	names := []struct {
		f    int
		name string
	}{{UserEmpty, "none"}, {UserAnonymous, "anonymous"}, {UserNode, "node"}, {UserSA, "serviceaccount"}, {UserSystem, "system"}, {UserHasNode, "has-node"}}
	var parts []string
	for _, n := range names {
		with := userWhere(func(f int) bool { return f&n.f != 0 })
		if u.Mask&^with.Mask == 0 {
			parts = append(parts, n.name)
		} else if u.Mask&with.Mask == 0 {
			parts = append(parts, "not "+n.name)
		}
	}
	if len(parts) == 0 {
		return "some classes"
	}
	return strings.Join(parts, " & ")
}

// validUserFlags reports combinations UserFlags can return.
func validUserFlags(f int) bool {
	kinds := 0
	for _, k := range []int{UserAnonymous, UserNode, UserSA} {
		if f&k != 0 {
			kinds++
		}
	}
	if kinds > 1 {
		return false
	}
	if f&UserEmpty != 0 && f&^(UserEmpty|UserHasNode) != 0 {
		return false
	}
	if kinds == 1 && f&UserSystem == 0 {
		return false
	}
	if f&UserNode != 0 && f&UserHasNode == 0 {
		return false
	}
	return true
}

func userWhere(pred func(f int) bool) *UserSet {
	u := &UserSet{}
	for f := 0; f < 64; f++ {
		if validUserFlags(f) && pred(f) {
			u.Mask |= 1 << uint(f)
		}
	}
	return u
}

func userAnd(a, b *UserSet) *UserSet {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return &UserSet{Mask: a.Mask & b.Mask}
}

func userOr(a, b *UserSet) *UserSet {
	if a == nil || b == nil {
		return nil
	}
	return &UserSet{Mask: a.Mask | b.Mask}
}

func userNot(a *UserSet) *UserSet {
	return &UserSet{Mask: ^a.Mask & userWhere(func(int) bool { return true }).Mask}
}

// analyzed is a filter (a disjunction of prefilters) and whether it is
// exactly the expression.
type analyzed struct {
	terms Filter
	exact bool
}

// maxTerms bounds the disjunction; beyond it terms are merged into one
// looser prefilter.
const maxTerms = 8

var anything = analyzed{terms: Filter{{}}}

func single(p Prefilter, exact bool) analyzed { return analyzed{terms: Filter{p}, exact: exact} }

func andPF(a, b Prefilter) Prefilter {
	out := Prefilter{
		Verb:         strAnd(a.Verb, b.Verb),
		Resource:     strAnd(a.Resource, b.Resource),
		Subresource:  strAnd(a.Subresource, b.Subresource),
		APIGroup:     strAnd(a.APIGroup, b.APIGroup),
		Stage:        strAnd(a.Stage, b.Stage),
		Decision:     strAnd(a.Decision, b.Decision),
		APIVersion:   strAnd(a.APIVersion, b.APIVersion),
		Namespace:    strAnd(a.Namespace, b.Namespace),
		Impersonated: strAnd(a.Impersonated, b.Impersonated),
		Code:         codeAnd(a.Code, b.Code),
		User:         userAnd(a.User, b.User),
		MinLatency:   max(a.MinLatency, b.MinLatency),
	}
	keys := map[string]bool{}
	for _, k := range append(append([]string{}, a.Annotations...), b.Annotations...) {
		keys[k] = true
	}
	for k := range keys {
		out.Annotations = append(out.Annotations, k)
	}
	sort.Strings(out.Annotations)
	return out
}

// orPF is one prefilter admitting what either admits (looser).
func orPF(a, b Prefilter) Prefilter {
	out := Prefilter{
		Verb:         strOr(a.Verb, b.Verb),
		Resource:     strOr(a.Resource, b.Resource),
		Subresource:  strOr(a.Subresource, b.Subresource),
		APIGroup:     strOr(a.APIGroup, b.APIGroup),
		Stage:        strOr(a.Stage, b.Stage),
		Decision:     strOr(a.Decision, b.Decision),
		APIVersion:   strOr(a.APIVersion, b.APIVersion),
		Namespace:    strOr(a.Namespace, b.Namespace),
		Impersonated: strOr(a.Impersonated, b.Impersonated),
		Code:         codeOr(a.Code, b.Code),
		User:         userOr(a.User, b.User),
		MinLatency:   min(a.MinLatency, b.MinLatency),
	}
	for _, k := range a.Annotations {
		if contains(b.Annotations, k) {
			out.Annotations = append(out.Annotations, k)
		}
	}
	return out
}

func merged(f Filter) Prefilter {
	out := f[0]
	for _, p := range f[1:] {
		out = orPF(out, p)
	}
	return out
}

func and(a, b analyzed) analyzed {
	out := analyzed{exact: a.exact && b.exact}
	for _, x := range a.terms {
		for _, y := range b.terms {
			out.terms = append(out.terms, andPF(x, y))
		}
	}
	out.terms = dedupe(out.terms)
	if len(out.terms) > maxTerms {
		out = analyzed{terms: Filter{merged(out.terms)}}
	}
	return out
}

func dedupe(f Filter) Filter {
	seen := map[string]bool{}
	var out Filter
	for _, t := range f {
		if k := t.String(); !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out
}

func or(a, b analyzed) analyzed {
	out := analyzed{exact: a.exact && b.exact}
	seen := map[string]bool{}
	for _, t := range append(append(Filter{}, a.terms...), b.terms...) {
		if k := t.String(); !seen[k] {
			seen[k] = true
			out.terms = append(out.terms, t)
		}
	}
	if len(out.terms) > maxTerms {
		out = analyzed{terms: Filter{merged(out.terms)}}
	}
	return out
}

// not negates: a single term A1 && A2 && ... becomes !A1 || !A2 || ...,
// several terms T1 || T2 become !T1 && !T2. Only dimensions with a
// complement (string sets, codes, user classes) can be negated.
func not(a analyzed) analyzed {
	if !a.exact {
		return anything
	}
	out := analyzed{terms: Filter{{}}, exact: true}
	for _, t := range a.terms {
		nt, ok := notTerm(t)
		if !ok {
			return anything
		}
		out = and(out, nt)
	}
	return out
}

func notTerm(p Prefilter) (analyzed, bool) {
	if p.MinLatency > 0 || len(p.Annotations) > 0 {
		return anything, false
	}
	if p.dims() == 0 {
		return analyzed{exact: true}, true // !true: no event
	}
	var out analyzed
	out.exact = true
	add := func(q Prefilter) { out.terms = append(out.terms, q) }
	for _, d := range []struct {
		s   *StrSet
		set func(q *Prefilter, s *StrSet)
	}{
		{p.Verb, func(q *Prefilter, s *StrSet) { q.Verb = s }},
		{p.Resource, func(q *Prefilter, s *StrSet) { q.Resource = s }},
		{p.Subresource, func(q *Prefilter, s *StrSet) { q.Subresource = s }},
		{p.APIGroup, func(q *Prefilter, s *StrSet) { q.APIGroup = s }},
		{p.Stage, func(q *Prefilter, s *StrSet) { q.Stage = s }},
		{p.Decision, func(q *Prefilter, s *StrSet) { q.Decision = s }},
		{p.APIVersion, func(q *Prefilter, s *StrSet) { q.APIVersion = s }},
		{p.Namespace, func(q *Prefilter, s *StrSet) { q.Namespace = s }},
		{p.Impersonated, func(q *Prefilter, s *StrSet) { q.Impersonated = s }},
	} {
		if d.s != nil {
			var q Prefilter
			d.set(&q, strNot(d.s))
			add(q)
		}
	}
	if p.Code != nil {
		add(Prefilter{Code: codeNot(p.Code)})
	}
	if p.User != nil {
		add(Prefilter{User: userNot(p.User)})
	}
	if len(out.terms) > maxTerms {
		return anything, false
	}
	return out, true
}

// strDims maps event fields to string dimensions.
var strDims = map[string]func(p *Prefilter) **StrSet{
	"verb":        func(p *Prefilter) **StrSet { return &p.Verb },
	"resource":    func(p *Prefilter) **StrSet { return &p.Resource },
	"subresource": func(p *Prefilter) **StrSet { return &p.Subresource },
	"apiGroup":    func(p *Prefilter) **StrSet { return &p.APIGroup },
	"stage":       func(p *Prefilter) **StrSet { return &p.Stage },
	"decision":    func(p *Prefilter) **StrSet { return &p.Decision },
	"apiVersion":  func(p *Prefilter) **StrSet { return &p.APIVersion },
	"namespace":   func(p *Prefilter) **StrSet { return &p.Namespace },
}

// analyze reads a match expression's tree. Only the top-level boolean
// structure and comparisons of known fields with literals are read;
// anything else admits every event (and makes the result inexact).
func analyze(n ast.Node) analyzed {
	switch n := n.(type) {
	case *ast.BoolNode:
		if n.Value {
			return analyzed{terms: Filter{{}}, exact: true}
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			return not(analyze(n.Node))
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			return and(analyze(n.Left), analyze(n.Right))
		case "||", "or":
			return or(analyze(n.Left), analyze(n.Right))
		case "==", "!=":
			if id, ok := ident(n.Left); ok && id == "impersonatedUser" && n.Operator == "!=" {
				if s, ok := n.Right.(*ast.StringNode); ok && s.Value == "" {
					return single(Prefilter{Impersonated: newStrSet("yes")}, false)
				}
			}
			if key, ok := annotationCall(n.Left); ok && n.Operator == "!=" {
				if s, ok := n.Right.(*ast.StringNode); ok && s.Value == "" {
					return single(Prefilter{Annotations: []string{key}}, true)
				}
			}
			a := compare(n.Left, n.Right)
			if a == nil {
				a = compare(n.Right, n.Left)
			}
			if a == nil {
				return anything
			}
			if n.Operator == "!=" {
				return not(*a)
			}
			return *a
		case "in":
			return inList(n.Left, n.Right)
		case "<", "<=", ">", ">=":
			if a, ok := latencyCompare(n); ok {
				return a
			}
			return codeCompare(n)
		case "startsWith":
			return startsWith(n.Left, n.Right)
		}
	}
	return anything
}

func ident(n ast.Node) (string, bool) {
	id, ok := n.(*ast.IdentifierNode)
	if !ok {
		return "", false
	}
	return id.Value, true
}

// compare handles field == literal.
func compare(l, r ast.Node) *analyzed {
	if key, ok := annotationCall(l); ok {
		s, ok := r.(*ast.StringNode)
		if !ok || s.Value == "" {
			return nil
		}
		// annotation("k") == "v": the key must be there.
		a := single(Prefilter{Annotations: []string{key}}, false)
		return &a
	}
	name, ok := ident(l)
	if !ok {
		return nil
	}
	if dim, ok := strDims[name]; ok {
		s, ok := r.(*ast.StringNode)
		if !ok {
			return nil
		}
		var p Prefilter
		*dim(&p) = newStrSet(s.Value)
		a := single(p, true)
		return &a
	}
	switch name {
	case "code":
		i, ok := r.(*ast.IntegerNode)
		if !ok {
			return nil
		}
		c := &CodeSet{}
		c.add(CodeIndex(i.Value))
		a := single(Prefilter{Code: c}, i.Value >= 0 && i.Value <= 1022)
		return &a
	case "impersonatedUser":
		s, ok := r.(*ast.StringNode)
		if !ok {
			return nil
		}
		// An empty name is "no impersonation", or a malformed one.
		if s.Value == "" {
			return nil
		}
		a := single(Prefilter{Impersonated: newStrSet("yes")}, false)
		return &a
	case "user", "serviceAccount", "node":
		s, ok := r.(*ast.StringNode)
		if !ok {
			return nil
		}
		a := userEquals(name, s.Value)
		return &a
	}
	return nil
}

func userEquals(field, v string) analyzed {
	switch field {
	case "user":
		switch v {
		case "":
			return single(Prefilter{User: userWhere(func(f int) bool { return f&UserEmpty != 0 })}, true)
		case "system:anonymous":
			return single(Prefilter{User: userWhere(func(f int) bool { return f&UserAnonymous != 0 })}, true)
		}
		want := UserFlags(v, false) &^ UserHasNode
		return single(Prefilter{User: userWhere(func(f int) bool { return f&^UserHasNode == want })}, false)
	case "serviceAccount":
		if v == "" {
			return anything
		}
		return single(Prefilter{User: userWhere(func(f int) bool { return f&UserSA != 0 })}, false)
	case "node":
		if v == "" {
			return single(Prefilter{User: userWhere(func(f int) bool { return f&UserHasNode == 0 })}, true)
		}
		return single(Prefilter{User: userWhere(func(f int) bool { return f&UserHasNode != 0 })}, false)
	}
	return anything
}

func inList(l, r ast.Node) analyzed {
	name, ok := ident(l)
	if !ok {
		return anything
	}
	arr, ok := r.(*ast.ArrayNode)
	if !ok {
		return anything
	}
	out := analyzed{exact: true}
	first := true
	for _, it := range arr.Nodes {
		a := compare(l, it)
		if a == nil {
			return anything
		}
		if first {
			out, first = *a, false
			continue
		}
		// Same dimension on both sides: one term, their union, exact
		// when both are.
		out = analyzed{terms: Filter{orPF(out.terms[0], a.terms[0])}, exact: out.exact && a.exact}
	}
	if first {
		// "x in []" is never true; admit nothing useful, stay safe.
		return anything
	}
	_ = name
	return out
}

func codeCompare(n *ast.BinaryNode) analyzed {
	name, ok := ident(n.Left)
	lit, ok2 := n.Right.(*ast.IntegerNode)
	op := n.Operator
	if !ok || !ok2 {
		// literal on the left: 400 <= code
		name, ok = ident(n.Right)
		lit, ok2 = n.Left.(*ast.IntegerNode)
		if !ok || !ok2 {
			return anything
		}
		op = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
	}
	if name != "code" {
		return anything
	}
	v := lit.Value
	var c *CodeSet
	switch op {
	case "<":
		c = codeRange(0, v-1)
	case "<=":
		c = codeRange(0, v)
	case ">":
		c = codeRange(v+1, 1023)
	case ">=":
		c = codeRange(v, 1023)
	}
	// Codes outside 0..1022 share slot 1023, so ranges that reach it are
	// exact only when they include all of it (upper-open ranges do).
	exact := v >= 0 && v <= 1022
	return single(Prefilter{Code: c}, exact)
}

func startsWith(l, r ast.Node) analyzed {
	name, ok := ident(l)
	s, ok2 := r.(*ast.StringNode)
	if ok && ok2 && name == "impersonatedUser" && s.Value != "" {
		return single(Prefilter{Impersonated: newStrSet("yes")}, false)
	}
	if !ok || !ok2 || name != "user" {
		return anything
	}
	v := s.Value
	flagged := func(flag int, exact bool) analyzed {
		return single(Prefilter{User: userWhere(func(f int) bool { return f&flag != 0 })}, exact)
	}
	switch {
	case v == "system:node:":
		return flagged(UserNode, true)
	case v == "system:serviceaccount:":
		return flagged(UserSA, true)
	case v == "system:":
		return flagged(UserSystem, true)
	case strings.HasPrefix(v, "system:node:"):
		return flagged(UserNode, false)
	case strings.HasPrefix(v, "system:serviceaccount:"):
		return flagged(UserSA, false)
	case strings.HasPrefix(v, "system:"):
		return flagged(UserSystem, false)
	case v == "" || strings.HasPrefix("system:", v):
		return anything
	}
	// Any other prefix: a non-system, non-empty user.
	return single(Prefilter{User: userWhere(func(f int) bool { return f&(UserSystem|UserEmpty) == 0 })}, false)
}

// annotationCall recognises annotation("key").
func annotationCall(n ast.Node) (string, bool) {
	s, ok := stringCall(n, "annotation")
	return s, ok && s != ""
}

// stringCall recognises fn("literal") and returns the literal. A parse
// without the environment makes a call of one of expr's builtins (get) a
// BuiltinNode, of the environment's functions a CallNode.
func stringCall(n ast.Node, fn string) (string, bool) {
	var args []ast.Node
	switch c := n.(type) {
	case *ast.CallNode:
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == fn {
			args = c.Arguments
		}
	case *ast.BuiltinNode:
		if c.Name == fn {
			args = c.Arguments
		}
	}
	if len(args) != 1 {
		return "", false
	}
	s, ok := args[0].(*ast.StringNode)
	if !ok {
		return "", false
	}
	return s.Value, true
}

// latencyCompare handles latency >= N and latency > N.
func latencyCompare(n *ast.BinaryNode) (analyzed, bool) {
	name, ok := ident(n.Left)
	if !ok || name != "latency" {
		return anything, false
	}
	var v float64
	switch lit := n.Right.(type) {
	case *ast.IntegerNode:
		v = float64(lit.Value)
	case *ast.FloatNode:
		v = lit.Value
	default:
		return anything, false
	}
	switch {
	case v <= 0:
		return anything, true
	case n.Operator == ">=":
		return single(Prefilter{MinLatency: v}, true), true
	case n.Operator == ">":
		return single(Prefilter{MinLatency: v}, false), true
	}
	return anything, true
}
