package why

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Authorization is why the request was allowed (or not): the
// authorization.k8s.io/decision and reason annotations, the RBAC reason
// parsed into the binding, the role and the subject that matched.
type Authorization struct {
	Decision string `json:"decision,omitempty"`
	// Reason is the annotation as logged.
	Reason string `json:"reason,omitempty"`
	// Authorizer is "RBAC" for parsed RBAC reasons; for empty reasons it is
	// inferred from the user: "system:masters" or "Node".
	Authorizer       string `json:"authorizer,omitempty"`
	BindingKind      string `json:"bindingKind,omitempty"`
	BindingName      string `json:"bindingName,omitempty"`
	BindingNamespace string `json:"bindingNamespace,omitempty"`
	RoleKind         string `json:"roleKind,omitempty"`
	RoleName         string `json:"roleName,omitempty"`
	SubjectKind      string `json:"subjectKind,omitempty"`
	SubjectName      string `json:"subjectName,omitempty"`
	SubjectNamespace string `json:"subjectNamespace,omitempty"`
}

// rbacReason matches the RBAC authorizer's reason (k8s.io/kubernetes
// plugin/pkg/auth/authorizer/rbac: "RBAC: allowed by %s").
var rbacReason = regexp.MustCompile(`^RBAC: allowed by (ClusterRoleBinding|RoleBinding) "([^"]*)" of (ClusterRole|Role) "([^"]*)" to (User|Group|ServiceAccount) "([^"]*)"$`)

// ParseReason parses the reason annotation. Unknown formats keep the text
// in Reason with no parsed fields.
func ParseReason(decision, reason string) Authorization {
	a := Authorization{Decision: decision, Reason: reason}
	m := rbacReason.FindStringSubmatch(reason)
	if m == nil {
		if i := strings.Index(reason, ":"); i > 0 && !strings.Contains(reason[:i], " ") {
			a.Authorizer = reason[:i]
		}
		return a
	}
	a.Authorizer = "RBAC"
	a.BindingKind, a.RoleKind, a.RoleName, a.SubjectKind = m[1], m[3], m[4], m[5]
	a.BindingName = m[2]
	if m[1] == "RoleBinding" {
		// RoleBinding "name/namespace"
		if i := strings.LastIndexByte(m[2], '/'); i >= 0 {
			a.BindingName, a.BindingNamespace = m[2][:i], m[2][i+1:]
		}
	}
	a.SubjectName = m[6]
	if m[5] == "ServiceAccount" {
		// ServiceAccount "name/namespace"
		if i := strings.LastIndexByte(m[6], '/'); i >= 0 {
			a.SubjectName, a.SubjectNamespace = m[6][:i], m[6][i+1:]
		}
	}
	return a
}

// Summary is a one-line account: `RoleBinding shop/developers-deployer →
// Role deployer (Group developers)`.
func (a *Authorization) Summary() string {
	if a == nil {
		return ""
	}
	if a.BindingKind != "" {
		b := a.BindingKind + " "
		if a.BindingNamespace != "" {
			b += a.BindingNamespace + "/"
		}
		b += a.BindingName + " → " + a.RoleKind + " " + a.RoleName
		if a.SubjectKind == "Group" {
			// The user is named in its own column; a group says why.
			b += " (Group " + a.SubjectName + ")"
		}
		return b
	}
	switch {
	case a.Reason != "":
		return a.Decision + ": " + a.Reason
	case a.Authorizer != "":
		return a.Decision + " (" + a.Authorizer + ")"
	}
	return a.Decision
}

// Webhook is one admission webhook call recorded in the
// mutation.webhook.admission.k8s.io/round_R_index_I (Metadata level and up)
// and patch.webhook.admission.k8s.io/round_R_index_I (Request and up)
// annotations.
type Webhook struct {
	Round         int           `json:"round"`
	Index         int           `json:"index"`
	Configuration string        `json:"configuration"`
	Webhook       string        `json:"webhook"`
	Mutated       bool          `json:"mutated"`
	PatchType     string        `json:"patchType,omitempty"`
	Patch         []FieldChange `json:"patch,omitempty"`
}

const (
	mutationPrefix = "mutation.webhook.admission.k8s.io/"
	patchPrefix    = "patch.webhook.admission.k8s.io/"
)

// parseRoundIndex reads "round_0_index_1".
func parseRoundIndex(s string) (round, index int, ok bool) {
	r, rest, ok1 := strings.Cut(strings.TrimPrefix(s, "round_"), "_index_")
	if !ok1 || !strings.HasPrefix(s, "round_") {
		return 0, 0, false
	}
	var err1, err2 error
	round, err1 = strconv.Atoi(r)
	index, err2 = strconv.Atoi(rest)
	return round, index, err1 == nil && err2 == nil
}

// webhookCollector gathers the webhook annotations of one event.
type webhookCollector struct {
	byKey map[[2]int]*Webhook
}

// add takes one annotation; it ignores keys that are not webhook
// annotations and values that do not parse. hidePatch drops the patch body
// (secrets).
func (c *webhookCollector) add(key, value string, hidePatch bool) {
	var rest string
	var isPatch bool
	switch {
	case strings.HasPrefix(key, mutationPrefix):
		rest = key[len(mutationPrefix):]
	case strings.HasPrefix(key, patchPrefix):
		rest, isPatch = key[len(patchPrefix):], true
	default:
		return
	}
	round, index, ok := parseRoundIndex(rest)
	if !ok {
		return
	}
	var v struct {
		Configuration string          `json:"configuration"`
		Webhook       string          `json:"webhook"`
		Mutated       *bool           `json:"mutated"`
		Patch         json.RawMessage `json:"patch"`
		PatchType     string          `json:"patchType"`
	}
	if json.Unmarshal([]byte(value), &v) != nil {
		return
	}
	if c.byKey == nil {
		c.byKey = map[[2]int]*Webhook{}
	}
	w := c.byKey[[2]int{round, index}]
	if w == nil {
		w = &Webhook{Round: round, Index: index}
		c.byKey[[2]int{round, index}] = w
	}
	w.Configuration, w.Webhook = v.Configuration, v.Webhook
	if v.Mutated != nil {
		w.Mutated = *v.Mutated
	}
	if isPatch {
		w.Mutated = true
		w.PatchType = v.PatchType
		if !hidePatch && len(v.Patch) > 0 {
			w.Patch = jsonPatchChanges(v.Patch)
		}
	}
}

func (c *webhookCollector) list() []Webhook {
	if len(c.byKey) == 0 {
		return nil
	}
	out := make([]Webhook, 0, len(c.byKey))
	for _, w := range c.byKey {
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Round != out[j].Round {
			return out[i].Round < out[j].Round
		}
		return out[i].Index < out[j].Index
	})
	return out
}
