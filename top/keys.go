package top

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// Key names, as given to --by, and as keys are named in the output (the
// column header upper-cased, the JSON key). --by takes every event field of
// the catalog that is a string, number or bool (audit.Fields, `kubectl
// audit rules fields`), matched case-insensitively, so the expression
// names work too (userAgent, sourceIP, serviceAccount); groups is group,
// and resourceKey is resource, which in --by has always meant the
// resourceKey (pods/exec), not objectRef.resource.
const (
	KeyUser           = "user"
	KeyGroup          = "group"
	KeyUserAgent      = "useragent"
	KeyVerb           = "verb"
	KeyResource       = "resource"
	KeyNamespace      = "namespace"
	KeyName           = "name"
	KeyCode           = "code"
	KeyDecision       = "decision"
	KeySourceIP       = "sourceip"
	KeyNode           = "node"
	KeyServiceAccount = "serviceaccount"
	keyExprPrefix     = "expr:"
)

// Keys lists the common --by keys; any other event field and
// expr:<expression> work too.
var Keys = []string{KeyUser, KeyGroup, KeyUserAgent, KeyVerb, KeyResource, KeyNamespace, KeyName, KeyCode,
	KeyDecision, KeySourceIP, KeyNode, KeyServiceAccount}

// keyKind is how a key reads its values.
type keyKind uint8

const (
	keyExpr      keyKind = iota // runs the expression
	keyField                    // the catalog's getter
	keyGroups                   // one value per group
	keyUserAgent                // the program name, or all of it with RawUserAgent
	keyCode                     // the code, "" for none
	keyNode                     // the node, "unknown" for none
)

type keyDef struct {
	name string // the output name
	kind keyKind
	get  func(*audit.Event, *[]byte) string
}

// byKeys maps a lower-cased --by name to its key.
var byKeys = func() map[string]keyDef {
	m := map[string]keyDef{}
	for _, f := range audit.Fields() {
		if f.GetString != nil {
			n := strings.ToLower(f.Name)
			m[n] = keyDef{name: n, kind: keyField, get: f.GetString}
		}
	}
	m["groups"] = keyDef{name: KeyGroup, kind: keyGroups}
	m[KeyGroup] = m["groups"]
	rk := m["resourcekey"]
	rk.name = KeyResource
	m["resourcekey"], m[KeyResource] = rk, rk
	for name, kind := range map[string]keyKind{KeyUserAgent: keyUserAgent, KeyCode: keyCode, KeyNode: keyNode} {
		k := m[name]
		k.kind = kind
		m[name] = k
	}
	return m
}()

// None is shown for an empty key value (401s have no user; cluster-scoped
// objects have no namespace).
const None = "<none>"

// KeySpec is one compiled --by key.
type KeySpec struct {
	// Name is the key's output name ("user", "useragent" for userAgent)
	// or the expr: key as written ("expr:verb + ' ' + resource").
	Name    string
	kind    keyKind
	get     func(*audit.Event, *[]byte) string
	program *vm.Program
}

// Column is the header text of the key.
func (k KeySpec) Column() string {
	if k.program != nil {
		return strings.ToUpper(strings.TrimPrefix(k.Name, keyExprPrefix))
	}
	return strings.ToUpper(k.Name)
}

// ParseKeys compiles a --by value: comma-separated keys. An expr: key takes
// the rest of the value, commas included, so it must come last.
func ParseKeys(by string) ([]KeySpec, error) {
	var keys []KeySpec
	rest := strings.TrimSpace(by)
	for rest != "" {
		if strings.HasPrefix(rest, keyExprPrefix) {
			src := strings.TrimPrefix(rest, keyExprPrefix)
			p, err := expr.Compile(src, audit.ExprOptions()...)
			if err != nil {
				return nil, fmt.Errorf("--by %s: %v", rest, err)
			}
			keys = append(keys, KeySpec{Name: rest, program: p})
			break
		}
		var k string
		k, rest, _ = strings.Cut(rest, ",")
		k = strings.TrimSpace(k)
		rest = strings.TrimSpace(rest)
		def, ok := byKeys[strings.ToLower(k)]
		if !ok {
			return nil, fmt.Errorf("--by: unknown key %q (want %s, another event field of `kubectl audit rules fields`, or expr:<expression>)", k, strings.Join(Keys, ", "))
		}
		keys = append(keys, KeySpec{Name: def.name, kind: def.kind, get: def.get})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--by: no keys")
	}
	return keys, nil
}

// values appends the key's values for the event: one for most keys, one per
// group for "group". evalExpr runs expr keys.
//
// Values that must be built (resource, code, serviceaccount) are written to
// arena by the catalog's getters and viewed as strings without copying:
// they live until the arena is reset for the next event, like the event's
// own strings.
func (k *KeySpec) values(dst []string, e *audit.Event, env *audit.ExprEnv, machine *vm.VM, rawUA bool, arena *[]byte) ([]string, error) {
	switch k.kind {
	case keyField:
		return append(dst, k.get(e, arena)), nil
	case keyGroups:
		if len(e.User.Groups) == 0 {
			return append(dst, ""), nil
		}
		return append(dst, e.User.Groups...), nil
	case keyUserAgent:
		if rawUA {
			return append(dst, e.UserAgent), nil
		}
		return append(dst, audit.ProgramName(e.UserAgent)), nil
	case keyCode:
		if e.Code == 0 {
			return append(dst, ""), nil
		}
		return append(dst, k.get(e, arena)), nil
	case keyNode:
		n := k.get(e, arena)
		if n == "" {
			n = "unknown"
		}
		return append(dst, n), nil
	}
	out, err := machine.Run(k.program, env)
	if err != nil {
		return dst, err
	}
	return append(dst, audit.ExprString(out)), nil
}
