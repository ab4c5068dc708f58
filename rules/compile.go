package rules

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	exprparser "github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// AggKind is an aggregate over the events of a group.
type AggKind int

// Aggregates usable in when and values: distinct(x) counts distinct
// values, values(x) lists them (sorted), first(x)/last(x) take x of the
// earliest/latest event, min/max/sum/avg are numeric.
const (
	AggDistinct AggKind = iota
	AggValues
	AggFirst
	AggLast
	AggMin
	AggMax
	AggSum
	AggAvg
)

var aggNames = map[string]AggKind{
	"distinct": AggDistinct, "values": AggValues, "first": AggFirst, "last": AggLast,
	"min": AggMin, "max": AggMax, "sum": AggSum, "avg": AggAvg,
}

func (k AggKind) String() string {
	for n, v := range aggNames {
		if v == k {
			return n
		}
	}
	return "?"
}

// Numeric reports aggregates over numbers.
func (k AggKind) Numeric() bool { return k >= AggMin }

// PeerKind is a statistic of one figure across all groups of a window.
type PeerKind int

// peers.median(x), peers.p90(x), peers.max(x), peers.min(x), peers.avg(x).
const (
	PeerMedian PeerKind = iota
	PeerP90
	PeerMax
	PeerMin
	PeerAvg
)

var peerNames = map[string]PeerKind{"median": PeerMedian, "p90": PeerP90, "max": PeerMax, "min": PeerMin, "avg": PeerAvg}

// Names every group has in when, values, summary and advice.
var reservedGroupNames = []string{"count", "rate", "span", "interval", "windowStart", "windowEnd",
	"firstTime", "lastTime", "peers", "identityAt", "rule", "severity", "title"}

// Key is one group_by item.
type Key struct {
	Name string
	Prog *vm.Program
	// Field is set when the item is a plain event field that has a fast
	// getter (audit.Field.GetString), read without running the program.
	Field string
}

// Agg is one aggregate; the group view names it Var.
type Agg struct {
	Kind AggKind
	Var  string
	// Arg is the event expression aggregated; ArgField is set when it is
	// a plain event field whose fast getter gives the aggregate what Arg
	// would (see aggCall).
	Arg      *vm.Program
	ArgField string
	ArgType  reflect.Type
	// Shares, when not -1, is the index of an earlier aggregate over the
	// same argument whose state this one reads: distinct(x) is the size of
	// values(x)'s set, so the two keep one set between them.
	Shares int
	src    string
}

// Peer is one peers.* statistic; the group view names it Var.
type Peer struct {
	Kind PeerKind
	Var  string
	// Arg is a group expression (over count, rate, aggregates), numeric.
	Arg *vm.Program
	src string
}

// Value is a named group expression shown in findings.
type Value struct {
	Name string
	Prog *vm.Program
}

// Compiled is a rule ready to run. Programs are safe for concurrent use;
// run them with one vm.VM per goroutine.
type Compiled struct {
	Match *vm.Program
	// MatchExact: the prefilter alone decides the match, so the runtime
	// need not run Match.
	MatchExact bool
	// Residual is Match without the conjuncts of its top-level && that
	// the prefilter decides exactly (resource == "pods", code < 400):
	// what the runtime runs on the events the prefilter admits. Nil when
	// no conjunct could be left out.
	Residual *vm.Program
	// BodyNeeds are body paths (split at dots) the match is false
	// without: when an event has none of them (audit.Event.Absent for
	// each), it does not match, and no program need run. Nil when not
	// known.
	BodyNeeds [][]string
	Prefilter Filter
	// MinCount is a count when requires (count >= N at the top level of
	// when), so the runtime can skip smaller groups; 0 if none. Only set
	// for rules without peers, whose groups are judged alone.
	MinCount int64
	Keys     []Key
	Aggs     []Agg
	Peers    []Peer
	// PeersCount: the rule reads peers.count.
	PeersCount bool
	// When is nil when every group fires.
	When    *vm.Program
	Values  []Value
	Summary *template.Template
	Advice  *template.Template
	// EventNames are the event-view names the event programs read.
	EventNames []string
	// UsesIdentityAt: the group programs call identityAt(ip).
	UsesIdentityAt bool
	// NeedsRank is audit.LevelRank(Needs).
	NeedsRank int
}

const peersCountVar = "__peers_count"

// fastField returns src when it is an event field detect reads with the
// catalog's getter (audit.Field.GetString) instead of running an
// expression, else "".
func fastField(src string) string {
	name := strings.TrimSpace(src)
	if f, ok := audit.LookupField(name); ok && f.GetString != nil {
		return name
	}
	return ""
}

type compiler struct {
	r    *Rule
	errs ErrorList
	c    *Compiled
	// aggs by "kind(src)", peers by "kind(src)", so when and values share.
	aggIndex  map[string]int
	peerIndex map[string]int
	names     map[string]bool
}

func (cp *compiler) errorAt(pos exprPos, offset int, format string, args ...any) {
	cp.errs = append(cp.errs, &Error{Pos: pos.at(offset), Rule: cp.r.ID, Msg: fmt.Sprintf(format, args...)})
}

// exprError turns an expr error into a rule error at its column.
func (cp *compiler) exprError(what string, pos exprPos, base int, src string, err error) {
	var fe *file.Error
	if errors.As(err, &fe) {
		off := fe.From
		if off > utf8.RuneCountInString(src) {
			off = utf8.RuneCountInString(src)
		}
		cp.errorAt(pos, base+off, "%s: %s", what, fe.Message)
		return
	}
	cp.errorAt(pos, base, "%s: %v", what, err)
}

// Compile compiles and type-checks a parsed rule. It is idempotent.
func Compile(r *Rule) ErrorList {
	if r.compiled != nil || r.Override {
		return nil
	}
	cp := &compiler{r: r, c: &Compiled{NeedsRank: audit.LevelRank(r.Needs)},
		aggIndex: map[string]int{}, peerIndex: map[string]int{}, names: map[string]bool{}}
	cp.compileMatch()
	for _, k := range r.GroupBy {
		p := cp.eventExpr("group_by "+k.Name, k.Expr, k.Pos, 0, false)
		if p == nil {
			continue
		}
		key := Key{Name: k.Name, Prog: p}
		key.Field = fastField(k.Expr)
		switch p.Node().Type().Kind() {
		case reflect.String, reflect.Int, reflect.Int64, reflect.Float64, reflect.Bool:
		default:
			cp.errorAt(k.Pos, 0, "group_by %s: must be a string, number or bool, got %s", k.Name, p.Node().Type())
		}
		cp.c.Keys = append(cp.c.Keys, key)
	}
	if strings.TrimSpace(r.When) != "" {
		cp.c.When = cp.groupExpr("when", r.When, r.whenPos, 0, true, true)
		if tree, err := exprparser.ParseWithConfig(r.When, groupConfig()); err == nil && len(cp.c.Peers) == 0 && !cp.c.PeersCount {
			cp.c.MinCount = minCount(tree.Node)
		}
		if cp.c.UsesIdentityAt {
			cp.errorAt(r.whenPos, 0, "when: identityAt() is only known once the whole input is read; use it in values")
			cp.c.UsesIdentityAt = false
		}
	}
	for _, v := range r.Values {
		if p := cp.groupExpr("values "+v.Name, v.Expr, v.Pos, 0, false, true); p != nil {
			cp.c.Values = append(cp.c.Values, Value{Name: v.Name, Prog: p})
		}
	}
	cp.c.Summary = cp.template("summary", r.Summary, r.summaryPos)
	if r.Advice != "" {
		cp.c.Advice = cp.template("advice", r.Advice, r.advicePos)
	}
	names := make([]string, 0, len(cp.names))
	for n := range cp.names {
		names = append(names, n)
	}
	sort.Strings(names)
	cp.c.EventNames = names
	if len(cp.errs) > 0 {
		cp.errs.Sort()
		return cp.errs
	}
	r.compiled = cp.c
	return nil
}

func (cp *compiler) compileMatch() {
	r := cp.r
	if strings.TrimSpace(r.Match) == "" {
		return
	}
	p := cp.eventExpr("match", r.Match, r.matchPos, 0, true)
	if p == nil {
		return
	}
	cp.c.Match = p
	tree, err := exprparser.Parse(r.Match)
	if err != nil {
		return
	}
	a := analyze(tree.Node)
	cp.c.Prefilter = a.terms
	cp.c.MatchExact = a.exact
	if !a.exact {
		cp.c.BodyNeeds = bodyNeeds(tree.Node)
		if src, ok := residual(tree.Node, a.terms); ok {
			opts := append(audit.ExprOptions(), expr.AsBool(), expr.WarnOnAny())
			if p, err := expr.Compile(src, opts...); err == nil {
				cp.c.Residual = p
			}
		}
	}
}

// residual is the source of match n without the conjuncts of its
// top-level && that every term of the prefilter terms implies (exactly
// analyzed conjuncts only), and whether any was left out.
func residual(n ast.Node, terms Filter) (string, bool) {
	var conj []ast.Node
	var flatten func(ast.Node)
	flatten = func(n ast.Node) {
		if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
			flatten(b.Left)
			flatten(b.Right)
			return
		}
		conj = append(conj, n)
	}
	flatten(n)
	var keep []string
	for _, c := range conj {
		if a := analyze(c); a.exact && implies(terms, a.terms) {
			continue
		}
		keep = append(keep, "("+c.String()+")")
	}
	switch {
	case len(keep) == len(conj):
		return "", false
	case len(keep) == 0:
		return "true", true
	}
	return strings.Join(keep, " && "), true
}

// implies reports whether every event some term of f admits is admitted
// by a term of g: each term of f is within one of g's.
func implies(f, g Filter) bool {
	if len(f) == 0 {
		return false
	}
	for _, t := range f {
		within := false
		for _, p := range g {
			if andPF(t, p).String() == t.String() {
				within = true
				break
			}
		}
		if !within {
			return false
		}
	}
	return true
}

// eventExpr compiles an expression over one event.
func (cp *compiler) eventExpr(what, src string, pos exprPos, base int, asBool bool) *vm.Program {
	opts := audit.ExprOptions()
	if asBool {
		opts = append(opts, expr.AsBool(), expr.WarnOnAny())
	}
	p, err := expr.Compile(src, opts...)
	if err != nil {
		cp.exprError(what, pos, base, src, err)
		return nil
	}
	if tree, err := exprparser.Parse(src); err == nil {
		ast.Walk(&tree.Node, identCollector(cp.names))
	}
	return p
}

type identCollector map[string]bool

func (c identCollector) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		c[id.Value] = true
	}
}

// groupCall is an aggregate or peers call found in a group expression.
type groupCall struct {
	key   string // node type and rune offset, to find it again when patching
	varNm string
}

// groupConfig is the parser config of group expressions: the aggregate
// names are not expr's builtins there.
func groupConfig() *conf.Config {
	c := conf.CreateNew()
	for n := range aggNames {
		c.Disabled[n] = true
		delete(c.Builtins, n)
	}
	c.Disabled["count"] = true
	delete(c.Builtins, "count")
	return c
}

// groupExpr compiles an expression over a group: aggregates of event
// expressions become variables computed by the runtime, peers.* calls
// variables computed across the window's groups.
func (cp *compiler) groupExpr(what, src string, pos exprPos, base int, asBool, allowPeers bool) *vm.Program {
	tree, err := exprparser.ParseWithConfig(src, groupConfig())
	if err != nil {
		cp.exprError(what, pos, base, src, err)
		return nil
	}
	replace := map[string]string{}
	ok := true
	var walk func(n ast.Node, inPeers bool)
	walk = func(n ast.Node, inPeers bool) {
		switch n := n.(type) {
		case *ast.CallNode:
			if id, isID := n.Callee.(*ast.IdentifierNode); isID {
				if kind, isAgg := aggNames[id.Value]; isAgg {
					call, good := cp.aggCall(what, src, pos, base, n, kind)
					if good {
						replace[call.key] = call.varNm
					} else {
						ok = false
					}
					return
				}
			}
			if m, isMember := n.Callee.(*ast.MemberNode); isMember && isPeers(m.Node) {
				prop, _ := m.Property.(*ast.StringNode)
				kind, known := PeerKind(0), false
				if prop != nil {
					kind, known = peerNames[prop.Value]
				}
				switch {
				case !allowPeers || inPeers:
					cp.errorAt(pos, base+n.Location().From, "%s: peers.* cannot be used here", what)
					ok = false
				case !known:
					cp.errorAt(pos, base+n.Location().From, "%s: unknown peers statistic (want peers.median, p90, max, min, avg or count)", what)
					ok = false
				default:
					call, good := cp.peerCall(what, src, pos, base, n, kind)
					if good {
						replace[call.key] = call.varNm
					} else {
						ok = false
					}
				}
				return
			}
			walk(n.Callee, inPeers)
			for _, a := range n.Arguments {
				walk(a, inPeers)
			}
		case *ast.MemberNode:
			if isPeers(n.Node) {
				prop, _ := n.Property.(*ast.StringNode)
				if prop == nil || prop.Value != "count" || !allowPeers || inPeers {
					cp.errorAt(pos, base+n.Location().From, "%s: peers.%s: only peers.count and peers.median/p90/max/min/avg(x) exist", what, propName(prop))
					ok = false
					return
				}
				replace[nodeKey(n)] = peersCountVar
				cp.c.PeersCount = true
				return
			}
			walk(n.Node, inPeers)
			walk(n.Property, inPeers)
		case *ast.UnaryNode:
			walk(n.Node, inPeers)
		case *ast.BinaryNode:
			walk(n.Left, inPeers)
			walk(n.Right, inPeers)
		case *ast.ConditionalNode:
			walk(n.Cond, inPeers)
			walk(n.Exp1, inPeers)
			walk(n.Exp2, inPeers)
		case *ast.BuiltinNode:
			for _, a := range n.Arguments {
				walk(a, inPeers)
			}
		case *ast.ArrayNode:
			for _, a := range n.Nodes {
				walk(a, inPeers)
			}
		case *ast.IdentifierNode:
			if n.Value == "peers" {
				cp.errorAt(pos, base+n.Location().From, "%s: peers alone is not a value: use peers.median(rate), peers.count, ...", what)
				ok = false
			}
			if n.Value == "identityAt" {
				cp.c.UsesIdentityAt = true
			}
		}
	}
	walk(tree.Node, false)
	if !ok {
		return nil
	}
	opts := []expr.Option{expr.Env(cp.groupEnvTypes()), expr.Patch(&groupPatcher{replace: replace})}
	for n := range aggNames {
		opts = append(opts, expr.DisableBuiltin(n))
	}
	opts = append(opts, expr.DisableBuiltin("count"))
	if asBool {
		opts = append(opts, expr.AsBool(), expr.WarnOnAny())
	}
	p, err := expr.Compile(src, opts...)
	if err != nil {
		cp.exprError(what, pos, base, src, err)
		return nil
	}
	return p
}

func propName(s *ast.StringNode) string {
	if s == nil {
		return "?"
	}
	return s.Value
}

func isPeers(n ast.Node) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == "peers"
}

func nodeKey(n ast.Node) string {
	return fmt.Sprintf("%T@%d", n, n.Location().From)
}

type groupPatcher struct{ replace map[string]string }

func (p *groupPatcher) Visit(n *ast.Node) {
	switch (*n).(type) {
	case *ast.CallNode, *ast.MemberNode:
	default:
		return
	}
	if v, ok := p.replace[nodeKey(*n)]; ok {
		ast.Patch(n, &ast.IdentifierNode{Value: v})
	}
}

// callArgs finds the source of a call's arguments: the text between the
// parenthesis after offset from and its match.
func callArgs(src string, from int) (string, int, bool) {
	runes := []rune(src)
	i := from
	for i < len(runes) && runes[i] != '(' {
		i++
	}
	if i >= len(runes) {
		return "", 0, false
	}
	start := i + 1
	depth := 0
	var quote rune
	for j := i; j < len(runes); j++ {
		c := runes[j]
		if quote != 0 {
			if c == '\\' && quote != '`' {
				j++
				continue
			}
			if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '"', '\'', '`':
			quote = c
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				return string(runes[start:j]), start, true
			}
		}
	}
	return "", 0, false
}

func (cp *compiler) aggCall(what, src string, pos exprPos, base int, n *ast.CallNode, kind AggKind) (groupCall, bool) {
	from := n.Location().From
	if len(n.Arguments) != 1 {
		cp.errorAt(pos, base+from, "%s: %s() takes one event expression", what, kind)
		return groupCall{}, false
	}
	arg, argOff, ok := callArgs(src, from)
	if !ok {
		cp.errorAt(pos, base+from, "%s: cannot read the argument of %s()", what, kind)
		return groupCall{}, false
	}
	argTrim := strings.TrimSpace(arg)
	k := kind.String() + "(" + argTrim + ")"
	if i, seen := cp.aggIndex[k]; seen {
		return groupCall{key: nodeKey(n), varNm: cp.c.Aggs[i].Var}, true
	}
	shares := -1
	if kind == AggDistinct || kind == AggValues {
		other := AggValues
		if kind == AggValues {
			other = AggDistinct
		}
		if i, seen := cp.aggIndex[other.String()+"("+argTrim+")"]; seen && cp.c.Aggs[i].Shares < 0 {
			shares = i
		}
	}
	p := cp.eventExpr(what+": "+kind.String()+"()", arg, pos, base+argOff, false)
	if p == nil {
		return groupCall{}, false
	}
	t := p.Node().Type()
	if kind.Numeric() && !isNumber(t) {
		cp.errorAt(pos, base+argOff, "%s: %s() needs a number, got %s", what, kind, typeName(t))
		return groupCall{}, false
	}
	a := Agg{Kind: kind, Var: fmt.Sprintf("__agg%d", len(cp.c.Aggs)), Arg: p, ArgType: t, Shares: shares, src: argTrim}
	// The getter gives a string: right for distinct and values of any
	// field, and for every aggregate of a string field; first, last and
	// the numeric ones must see a number or a bool as one.
	if f := fastField(argTrim); f != "" && (kind == AggDistinct || kind == AggValues || t.Kind() == reflect.String) {
		a.ArgField = f
	}
	cp.aggIndex[k] = len(cp.c.Aggs)
	cp.c.Aggs = append(cp.c.Aggs, a)
	return groupCall{key: nodeKey(n), varNm: a.Var}, true
}

func (cp *compiler) peerCall(what, src string, pos exprPos, base int, n *ast.CallNode, kind PeerKind) (groupCall, bool) {
	from := n.Location().From
	if len(n.Arguments) != 1 {
		cp.errorAt(pos, base+from, "%s: peers statistics take one group expression (peers.median(rate))", what)
		return groupCall{}, false
	}
	arg, argOff, ok := callArgs(src, from)
	if !ok {
		cp.errorAt(pos, base+from, "%s: cannot read the argument of the peers call", what)
		return groupCall{}, false
	}
	argTrim := strings.TrimSpace(arg)
	k := fmt.Sprintf("%d(%s)", kind, argTrim)
	if i, seen := cp.peerIndex[k]; seen {
		return groupCall{key: nodeKey(n), varNm: cp.c.Peers[i].Var}, true
	}
	p := cp.groupExpr(what+": peers argument", arg, pos, base+argOff, false, false)
	if p == nil {
		return groupCall{}, false
	}
	if t := p.Node().Type(); !isNumber(t) {
		cp.errorAt(pos, base+argOff, "%s: peers statistics need a number, got %s", what, typeName(t))
		return groupCall{}, false
	}
	pr := Peer{Kind: kind, Var: fmt.Sprintf("__peer%d", len(cp.c.Peers)), Arg: p, src: argTrim}
	cp.peerIndex[k] = len(cp.c.Peers)
	cp.c.Peers = append(cp.c.Peers, pr)
	return groupCall{key: nodeKey(n), varNm: pr.Var}, true
}

func isNumber(t reflect.Type) bool {
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func typeName(t reflect.Type) string {
	if t == nil {
		return "nothing"
	}
	if t.Kind() == reflect.Interface {
		return "an unknown type (convert it: string(x), float(x))"
	}
	return t.String()
}

// groupEnvTypes is the group view as a type: the names every group has,
// the group_by names, and the aggregate and peers variables known so far.
func (cp *compiler) groupEnvTypes() map[string]any {
	env := map[string]any{
		"count": 0, "rate": 0.0, "span": 0.0, "interval": 0.0,
		"windowStart": time.Time{}, "windowEnd": time.Time{}, "firstTime": time.Time{}, "lastTime": time.Time{},
		"identityAt": func(string) string { return "" },
		"rule":       "", "severity": "", "title": "",
		peersCountVar: 0,
	}
	for _, k := range cp.r.GroupBy {
		env[k.Name] = ""
	}
	for _, a := range cp.c.Aggs {
		env[a.Var] = AggZero(a)
	}
	for _, p := range cp.c.Peers {
		env[p.Var] = 0.0
	}
	return env
}

// AggZero is the zero value of an aggregate's result, which fixes its type
// in the group view.
func AggZero(a Agg) any {
	switch a.Kind {
	case AggDistinct:
		return 0
	case AggValues:
		return []string{}
	case AggFirst, AggLast:
		switch {
		case a.ArgType == nil:
			return ""
		case a.ArgType.Kind() == reflect.String:
			return ""
		case a.ArgType.Kind() == reflect.Bool:
			return false
		case isNumber(a.ArgType):
			return 0.0
		case a.ArgType == reflect.TypeOf(time.Time{}):
			return time.Time{}
		}
		return ""
	}
	return 0.0
}

// TemplateFuncs are the functions summary and advice templates may call.
var TemplateFuncs = template.FuncMap{
	"join": func(v any, sep string) string {
		switch x := v.(type) {
		case []string:
			return strings.Join(x, sep)
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			return strings.Join(parts, sep)
		}
		return fmt.Sprint(v)
	},
	// namespaces joins a values(namespace) list, naming the cluster scope
	// (the empty namespace) "all namespaces".
	"namespaces": func(v any) string {
		var parts []string
		switch x := v.(type) {
		case []string:
			parts = append(parts, x...)
		case []any:
			for _, e := range x {
				parts = append(parts, fmt.Sprint(e))
			}
		default:
			parts = append(parts, fmt.Sprint(v))
		}
		for i, p := range parts {
			if p == "" {
				parts[i] = "all namespaces"
			}
		}
		return strings.Join(parts, ", ")
	},
	"seconds": func(v any) string {
		switch x := v.(type) {
		case float64:
			return formatSeconds(x)
		case int:
			return formatSeconds(float64(x))
		}
		return fmt.Sprint(v)
	},
	"round": func(v any) string {
		switch x := v.(type) {
		case float64:
			return formatNumber(x)
		}
		return fmt.Sprint(v)
	},
	"short": func(v any) string {
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format("2006-01-02T15:04:05Z")
		}
		return fmt.Sprint(v)
	},
}

func formatSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

func formatNumber(f float64) string {
	switch {
	case f == float64(int64(f)):
		return fmt.Sprintf("%d", int64(f))
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	}
	return fmt.Sprintf("%.2f", f)
}

// sampleData builds the names a summary or advice template sees, with
// sample values: used to check templates at load time.
func (cp *compiler) sampleData() map[string]any {
	d := map[string]any{}
	for k, v := range cp.groupEnvTypes() {
		if strings.HasPrefix(k, "__") || k == "identityAt" {
			continue
		}
		d[k] = v
	}
	for _, v := range cp.r.Values {
		d[v.Name] = ""
	}
	return d
}

func (cp *compiler) template(what, src string, pos exprPos) *template.Template {
	t, err := template.New(what).Funcs(TemplateFuncs).Option("missingkey=error").Parse(src)
	if err != nil {
		cp.errorAt(pos, 0, "%s: %s", what, strings.TrimPrefix(err.Error(), "template: "))
		return nil
	}
	var b strings.Builder
	if err := t.Execute(&b, cp.sampleData()); err != nil {
		msg := err.Error()
		if i := strings.Index(msg, "map has no entry for key "); i >= 0 {
			msg = "unknown name " + strings.TrimPrefix(msg[i:], "map has no entry for key ") + " (known: " + strings.Join(sortedKeys(cp.sampleData()), ", ") + ")"
		}
		cp.errorAt(pos, 0, "%s: %s", what, strings.TrimPrefix(msg, "template: "))
		return nil
	}
	return t
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// minCount reads "count >= N" (or > N) from the top-level && chain of a
// when expression; 0 when there is none.
func minCount(n ast.Node) int64 {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "&&", "and":
			return max(minCount(n.Left), minCount(n.Right))
		case ">=", ">":
			id, ok := n.Left.(*ast.IdentifierNode)
			lit, ok2 := n.Right.(*ast.IntegerNode)
			if !ok || !ok2 || id.Value != "count" {
				return 0
			}
			if n.Operator == ">" {
				return int64(lit.Value) + 1
			}
			return int64(lit.Value)
		}
	}
	return 0
}
