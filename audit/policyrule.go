package audit

import (
	"fmt"
	"strconv"
	"strings"
)

// PolicyRule is the RBAC permission one request needed: one verb on one
// resource (with its subresource) of one API group, or on one non-resource
// URL. It is what the policyRule() expression function returns, spelled by
// String, and read back by ParsePolicyRule; this file owns that format.
type PolicyRule struct {
	APIGroup       string `json:"apiGroup,omitempty"`
	Resource       string `json:"resource,omitempty"` // "pods/exec" for a subresource
	NonResourceURL string `json:"nonResourceURL,omitempty"`
	Verb           string `json:"verb"`
}

// PolicyRuleFor returns the permission e's request needed.
func PolicyRuleFor(e *Event) PolicyRule {
	r := e.ObjectRef
	if r.Resource == "" {
		return PolicyRule{NonResourceURL: strings.Clone(pathOf(e.RequestURI)), Verb: strings.Clone(e.Verb)}
	}
	res := r.Resource
	if r.Subresource != "" {
		res += "/" + r.Subresource
	}
	return PolicyRule{APIGroup: strings.Clone(r.APIGroup), Resource: strings.Clone(res), Verb: strings.Clone(e.Verb)}
}

// PolicyRuleOf spells the RBAC rule an event's request needed, in the flow
// YAML of a Role's rules: {apiGroups: [""], resources: ["pods/exec"], verbs: ["create"]}.
func PolicyRuleOf(e *Event) string { return PolicyRuleFor(e).String() }

// String spells r in the flow YAML of a Role's rules, which can be pasted
// into a Role: {apiGroups: [""], resources: ["pods/exec"], verbs: ["create"]}.
func (r PolicyRule) String() string {
	var b strings.Builder
	if r.Resource == "" {
		b.WriteString(`{nonResourceURLs: [`)
		b.WriteString(strconv.Quote(r.NonResourceURL))
	} else {
		b.WriteString(`{apiGroups: [`)
		b.WriteString(strconv.Quote(r.APIGroup))
		b.WriteString(`], resources: [`)
		b.WriteString(strconv.Quote(r.Resource))
	}
	b.WriteString(`], verbs: [`)
	b.WriteString(strconv.Quote(r.Verb))
	b.WriteString(`]}`)
	return b.String()
}

// ParsePolicyRule reads back what String wrote (a finding's permissions
// value). It accepts exactly that form: anything else is an error saying
// what was expected.
func ParsePolicyRule(s string) (PolicyRule, error) {
	var r PolicyRule
	rest, ok := strings.CutPrefix(s, "{")
	if !ok {
		return r, fmt.Errorf("permission %q: want {apiGroups: [...], resources: [...], verbs: [...]}", s)
	}
	for {
		rest = strings.TrimLeft(rest, " ")
		if strings.HasPrefix(rest, "}") && strings.TrimSpace(rest[1:]) == "" {
			break
		}
		name, after, ok := strings.Cut(rest, ": [")
		if !ok {
			return r, fmt.Errorf("permission %q: want field: [\"value\"] at %q", s, rest)
		}
		end := strings.Index(after, "]")
		if end < 0 {
			return r, fmt.Errorf("permission %q: unterminated list of %s", s, name)
		}
		v, err := strconv.Unquote(after[:end])
		if err != nil {
			return r, fmt.Errorf("permission %q: %s: want one quoted value, got %s", s, name, after[:end])
		}
		switch name {
		case "apiGroups":
			r.APIGroup = v
		case "resources":
			r.Resource = v
		case "nonResourceURLs":
			r.NonResourceURL = v
		case "verbs":
			r.Verb = v
		default:
			return r, fmt.Errorf("permission %q: unknown field %q", s, name)
		}
		rest = strings.TrimPrefix(after[end+1:], ",")
	}
	if r.Verb == "" || (r.Resource == "") == (r.NonResourceURL == "") {
		return r, fmt.Errorf("permission %q: want a verb and either resources or nonResourceURLs", s)
	}
	return r, nil
}
