package top

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// Key names, as given to --by.
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

// Keys lists the --by keys (besides expr:<expression>).
var Keys = []string{KeyUser, KeyGroup, KeyUserAgent, KeyVerb, KeyResource, KeyNamespace, KeyName, KeyCode,
	KeyDecision, KeySourceIP, KeyNode, KeyServiceAccount}

// None is shown for an empty key value (401s have no user; cluster-scoped
// objects have no namespace).
const None = "<none>"

// KeySpec is one compiled --by key.
type KeySpec struct {
	// Name is the key as the user wrote it ("user", "expr:verb + ' ' + resource").
	Name    string
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
			p, err := expr.Compile(src, expr.Env(audit.ExprEnv{}))
			if err != nil {
				return nil, fmt.Errorf("--by %s: %v", rest, err)
			}
			keys = append(keys, KeySpec{Name: rest, program: p})
			break
		}
		var k string
		k, rest, _ = strings.Cut(rest, ",")
		k = strings.ToLower(strings.TrimSpace(k))
		rest = strings.TrimSpace(rest)
		if !knownKey(k) {
			return nil, fmt.Errorf("--by: unknown key %q (want %s, or expr:<expression>)", k, strings.Join(Keys, ", "))
		}
		keys = append(keys, KeySpec{Name: k})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--by: no keys")
	}
	return keys, nil
}

func knownKey(k string) bool {
	for _, x := range Keys {
		if x == k {
			return true
		}
	}
	return false
}

// NormalizeUserAgent maps "kubelet/v1.37.2 (linux/amd64) kubernetes/abc" to
// "kubelet": the client's program name, which is what people group by.
func NormalizeUserAgent(ua string) string {
	if ua == "" {
		return ""
	}
	end := len(ua)
	if i := strings.IndexAny(ua, "/ "); i >= 0 {
		end = i
	}
	return ua[:end]
}

// values appends the key's values for the event: one for most keys, one per
// group for "group". evalExpr runs expr keys.
//
// Values that must be built (resource, code, serviceaccount) are written to
// arena and viewed as strings without copying: they live until the arena
// is reset for the next event, like the event's own strings.
func (k *KeySpec) values(dst []string, e *audit.Event, env *audit.ExprEnv, machine *vm.VM, rawUA bool, arena *[]byte) ([]string, error) {
	switch k.Name {
	case KeyUser:
		return append(dst, e.User.Username), nil
	case KeyGroup:
		if len(e.User.Groups) == 0 {
			return append(dst, ""), nil
		}
		return append(dst, e.User.Groups...), nil
	case KeyUserAgent:
		if rawUA {
			return append(dst, e.UserAgent), nil
		}
		return append(dst, NormalizeUserAgent(e.UserAgent)), nil
	case KeyVerb:
		return append(dst, e.Verb), nil
	case KeyResource:
		return append(dst, view(arena, e.AppendResourceKey)), nil
	case KeyNamespace:
		return append(dst, e.ObjectRef.Namespace), nil
	case KeyName:
		return append(dst, e.ObjectRef.Name), nil
	case KeyCode:
		if e.Code == 0 {
			return append(dst, ""), nil
		}
		return append(dst, view(arena, func(b []byte) []byte { return strconv.AppendInt(b, int64(e.Code), 10) })), nil
	case KeyDecision:
		return append(dst, e.Decision()), nil
	case KeySourceIP:
		return append(dst, e.SourceIP()), nil
	case KeyNode:
		n := e.NodeName()
		if n == "" {
			n = "unknown"
		}
		return append(dst, n), nil
	case KeyServiceAccount:
		return append(dst, view(arena, e.AppendServiceAccount)), nil
	}
	out, err := machine.Run(k.program, env)
	if err != nil {
		return dst, err
	}
	return append(dst, exprString(out)), nil
}

func exprString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// view appends with fn to the arena and returns the appended bytes as a
// string that shares the arena's memory.
func view(arena *[]byte, fn func([]byte) []byte) string {
	start := len(*arena)
	*arena = fn(*arena)
	b := (*arena)[start:]
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
