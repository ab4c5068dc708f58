package audit

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// lazyFields marks the ExprEnv fields that cost something to compute (an
// allocation or an annotation lookup; the catalog's Field.lazy). The zero
// value computes them all; Require narrows it to what a set of programs
// reads.
type lazyFields struct {
	set  bool
	mask uint32
}

const (
	lazyServiceAccount uint32 = 1 << iota
	lazyNode
	lazyDecision
	lazyAuthzReason
	lazyPath
	lazyResourceKey
)

func (l lazyFields) want(f uint32) bool { return !l.set || l.mask&f != 0 }

// Require tells Set that expressions read only these names (expr
// identifiers), so it can skip the costly fields nobody reads. Fields not
// required keep their zero value. Without a call, Set fills every field.
func (x *ExprEnv) Require(names []string) {
	x.lazy.set = true
	x.lazy.mask = 0
	for _, n := range names {
		if i, ok := fieldIndex[n]; ok {
			x.lazy.mask |= fields[i].lazy
		}
	}
}

func (x *ExprEnv) initFuncs() {
	var p fastjson.Parser
	x.GetAll = func(path string) []any {
		if x.ev == nil {
			return nil
		}
		v, rest := x.ev.at(x.split(path))
		if v == nil {
			return nil
		}
		var out []any
		collectAll(v, rest, &out)
		for i := range out {
			out[i] = x.redact(path, out[i])
		}
		return out
	}
	x.Query = func(name string) string {
		if x.ev == nil {
			return ""
		}
		return queryParam(x.ev.RequestURI, name)
	}
	x.QueryAll = func(name string) []string {
		if x.ev == nil {
			return nil
		}
		return queryParams(x.ev.RequestURI, name)
	}
	x.DeniedBy = func() string {
		if x.ev == nil {
			return ""
		}
		return DeniedBy(x.ev.Message, x.ev.Reason)
	}
	x.Seconds = func(d string) float64 {
		v, err := time.ParseDuration(d)
		if err != nil {
			return 0
		}
		return v.Seconds()
	}
	x.PolicyRule = func() string {
		if x.ev == nil {
			return ""
		}
		return PolicyRuleOf(x.ev)
	}
	x.MutatingWebhooks = func() []string {
		if x.ev == nil {
			return nil
		}
		return mutatingWebhooks(x.ev, &p)
	}
	x.AnnotationKeys = func(prefix string) []string {
		if x.ev == nil {
			return nil
		}
		var keys []string
		x.ev.VisitAnnotations(func(k, _ string) {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		})
		sort.Strings(keys)
		return keys
	}
}

func pathOf(uri string) string {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}

// queryParam returns the first value of a query parameter of uri without
// allocating in the common case of a parameter with no escapes.
func queryParam(uri, name string) string {
	i := strings.IndexByte(uri, '?')
	if i < 0 {
		return ""
	}
	q := uri[i+1:]
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
		}
		return v
	}
	return ""
}

func queryParams(uri, name string) []string {
	i := strings.IndexByte(uri, '?')
	if i < 0 {
		return nil
	}
	q, err := url.ParseQuery(uri[i+1:])
	if err != nil {
		return nil
	}
	return q[name]
}

// DeniedBy names what denied a request at admission, from the response
// message kube-apiserver writes.
func DeniedBy(message, reason string) string {
	if name, ok := quotedAfter(message, `admission webhook "`); ok {
		return "webhook " + name
	}
	if name, ok := between(message, "ValidatingAdmissionPolicy '", "'"); ok {
		return "policy " + name
	}
	if name, ok := between(message, "MutatingAdmissionPolicy '", "'"); ok {
		return "policy " + name
	}
	if level, ok := quotedAfter(message, `violates PodSecurity "`); ok {
		return "PodSecurity " + level
	}
	if name, ok := between(message, "exceeded quota: ", ","); ok {
		return "ResourceQuota " + name
	}
	if strings.Contains(message, "because it is being terminated") {
		return "NamespaceLifecycle"
	}
	if reason != "" {
		return reason
	}
	return "admission"
}

func quotedAfter(s, prefix string) (string, bool) { return between(s, prefix, `"`) }

func between(s, start, end string) (string, bool) {
	i := strings.Index(s, start)
	if i < 0 {
		return "", false
	}
	rest := s[i+len(start):]
	j := strings.Index(rest, end)
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

// collectAll appends the values at path below v; "*" walks every item.
func collectAll(v *fastjson.Value, path []string, out *[]any) {
	if v == nil {
		return
	}
	if len(path) == 0 {
		if v.Type() == fastjson.TypeArray {
			a, _ := v.Array()
			for _, x := range a {
				*out = append(*out, jsonToAny(x))
			}
			return
		}
		*out = append(*out, jsonToAny(v))
		return
	}
	if path[0] == "*" {
		switch v.Type() {
		case fastjson.TypeArray:
			a, _ := v.Array()
			for _, x := range a {
				collectAll(x, path[1:], out)
			}
		case fastjson.TypeObject:
			o, _ := v.Object()
			o.Visit(func(_ []byte, x *fastjson.Value) { collectAll(x, path[1:], out) })
		}
		return
	}
	if v.Type() == fastjson.TypeArray {
		// A numeric step indexes a list.
		if n, err := strconv.Atoi(path[0]); err == nil {
			a, _ := v.Array()
			if n >= 0 && n < len(a) {
				collectAll(a[n], path[1:], out)
			}
		}
		return
	}
	collectAll(v.Get(path[0]), path[1:], out)
}

const mutationAnnotationPrefix = "mutation.webhook.admission.k8s.io/round_"

// mutatingWebhooks reads the mutation.webhook.admission.k8s.io/round_*
// annotations, {"configuration","webhook","mutated"}, and returns
// "configuration/webhook" of those that mutated the object, sorted.
func mutatingWebhooks(e *Event, p *fastjson.Parser) []string {
	var out []string
	e.VisitAnnotations(func(k, v string) {
		if !strings.HasPrefix(k, mutationAnnotationPrefix) {
			return
		}
		jv, err := p.Parse(v)
		if err != nil || !jv.GetBool("mutated") {
			return
		}
		name := string(jv.GetStringBytes("configuration"))
		if wh := string(jv.GetStringBytes("webhook")); wh != "" {
			name += "/" + wh
		}
		out = append(out, name)
	})
	sort.Strings(out)
	return out
}
