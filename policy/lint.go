package policy

import (
	"fmt"
	"sort"
	"strings"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

// Lint checks, by ID.
const (
	CheckShadowed         = "shadowed-rule"
	CheckSensitivePayload = "sensitive-payload"
	CheckNoCatchAll       = "no-catch-all"
	CheckCatchAllNotLast  = "catch-all-not-last"
	CheckWrongGroup       = "wrong-group"
	CheckUnknownResource  = "unknown-resource"
	CheckUnknownGroup     = "unknown-group"
	CheckRequestReceived  = "request-received"
	CheckListResponse     = "list-at-request-response"
	CheckHealthLogged     = "health-logged"
	CheckManagedFields    = "managed-fields"
	CheckBlindDetector    = "blind-detector"
)

// Checks lists every check with what it looks for, for help and SARIF.
var Checks = []struct{ ID, Title string }{
	{CheckShadowed, "a rule that never applies: an earlier rule matches every request it matches"},
	{CheckSensitivePayload, "request or response bodies of secrets, configmaps, token reviews or service-account tokens logged"},
	{CheckNoCatchAll, "no catch-all rule at the end: requests no rule matches are not logged"},
	{CheckCatchAllNotLast, "a catch-all rule before other rules, which then never apply"},
	{CheckWrongGroup, "a resource listed under a group that does not serve it (group: \"\" is the core group only)"},
	{CheckUnknownResource, "a resource no API group serves"},
	{CheckUnknownGroup, "an API group that is not served"},
	{CheckRequestReceived, "the RequestReceived stage logged: every request written twice"},
	{CheckListResponse, "lists logged at RequestResponse: every object of the list in one event"},
	{CheckHealthLogged, "health and metrics probes logged"},
	{CheckManagedFields, "managed fields kept in logged bodies (omitManagedFields unset)"},
	{CheckBlindDetector, "a shipped detect rule that the policy leaves blind: it logs what the rule watches below the level the rule needs"},
}

// Finding is one lint result.
type Finding struct {
	Check    string
	Severity rules.Severity
	Pos      Pos
	// Rule is the policy rule it is about, 1-based; 0 for the policy as a
	// whole.
	Rule    int
	Message string
	// Fix says what to change.
	Fix string
}

// LintOptions configure Lint.
type LintOptions struct {
	// Resources is what the cluster serves (discovery), or the built-in
	// table; nil means BuiltinResources().
	Resources *Resources
	// Detectors are the detect rules whose needs are checked (the shipped
	// ones, compiled); nil checks none.
	Detectors []*rules.Rule
}

// Lint checks a parsed policy and returns its findings, sorted by place.
func Lint(f *File, o LintOptions) []Finding {
	if o.Resources == nil {
		o.Resources = BuiltinResources()
	}
	l := &linter{f: f, p: f.Policy, o: o, eval: NewEvaluator(f)}
	l.shadowed()
	l.catchAll()
	l.sensitive()
	l.groups()
	l.requestReceived()
	l.lists()
	l.health()
	l.managedFields()
	l.detectors()
	sort.SliceStable(l.out, func(i, j int) bool {
		a, b := l.out[i], l.out[j]
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		return a.Check < b.Check
	})
	return l.out
}

type linter struct {
	f    *File
	p    *auditinternal.Policy
	o    LintOptions
	eval *Evaluator
	out  []Finding
	// unlogged are the detectors that requests no rule matches blind.
	unlogged []string
}

func (l *linter) add(check string, sev rules.Severity, rule int, pos Pos, fix, format string, args ...any) {
	l.out = append(l.out, Finding{Check: check, Severity: sev, Pos: pos, Rule: rule, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// ruleRef names rule i (0-based) for messages: "rule 3 (line 20)".
func (l *linter) ruleRef(i int) string {
	return fmt.Sprintf("rule %d (line %d)", i+1, l.f.RulePos(i).Line)
}

func isPayload(level auditinternal.Level) bool {
	return level == auditinternal.LevelRequest || level == auditinternal.LevelRequestResponse
}

func sameEffect(a, b *auditinternal.PolicyRule) bool {
	if a.Level != b.Level || (a.OmitManagedFields == nil) != (b.OmitManagedFields == nil) ||
		a.OmitManagedFields != nil && *a.OmitManagedFields != *b.OmitManagedFields {
		return false
	}
	return stageSet(a.OmitStages) == stageSet(b.OmitStages)
}

func stageSet(s []auditinternal.Stage) string {
	names := make([]string, len(s))
	for i, v := range s {
		names[i] = string(v)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (l *linter) shadowed() {
	rs := l.p.Rules
	for j := range rs {
		i := coveredBefore(rs, j, &rs[j])
		if i < 0 {
			continue
		}
		if sameEffect(&rs[i], &rs[j]) {
			l.add(CheckShadowed, rules.SeverityLow, j+1, l.f.RulePos(j), "delete it",
				"rule %d is redundant: %s, at the same level (%s), matches every request it matches", j+1, l.ruleRef(i), rs[j].Level)
			continue
		}
		l.add(CheckShadowed, rules.SeverityHigh, j+1, l.f.RulePos(j),
			fmt.Sprintf("move it above rule %d, or narrow rule %d", i+1, i+1),
			"rule %d (level %s) never applies: %s (level %s) matches every request it matches, and the first matching rule decides", j+1, rs[j].Level, l.ruleRef(i), rs[i].Level)
	}
}

func (l *linter) catchAll() {
	rs := l.p.Rules
	last := len(rs) - 1
	for i := range rs {
		if isCatchAll(&rs[i]) && i < last {
			after := fmt.Sprintf("the %d rules after it never apply", last-i)
			if last-i == 1 {
				after = "the rule after it never applies"
			}
			l.add(CheckCatchAllNotLast, rules.SeverityHigh, i+1, l.f.RulePos(i), "move it to the end",
				"rule %d matches every request, so %s", i+1, after)
			return
		}
	}
	if !isCatchAll(&rs[last]) {
		l.add(CheckNoCatchAll, rules.SeverityMedium, last+1, l.f.RulePos(last), "end the rules with a catch-all: - level: Metadata",
			"no catch-all rule at the end: requests that no rule matches are not logged at all (level None by default)")
	}
}

// sensitiveResource is a resource whose bodies hold secrets.
type sensitiveResource struct {
	group, resource string
	severity        rules.Severity
	// level is the lowest level that logs the secret part; verbs are the
	// verbs whose bodies at that level hold it.
	level                  auditinternal.Level
	requestVerbs, allVerbs []string
	why                    string
}

var bodyVerbs = []string{"create", "update", "patch"}
var responseVerbs = []string{"get", "list", "create", "update", "patch", "delete", "deletecollection"}

var sensitiveResources = []sensitiveResource{
	{"", "secrets", rules.SeverityCritical, auditinternal.LevelRequest, bodyVerbs, responseVerbs, "their values"},
	{"authentication.k8s.io", "tokenreviews", rules.SeverityCritical, auditinternal.LevelRequest, []string{"create"}, []string{"create"}, "the bearer tokens under review"},
	{"", "serviceaccounts/token", rules.SeverityCritical, auditinternal.LevelRequestResponse, nil, []string{"create"}, "the tokens issued"},
	{"", "configmaps", rules.SeverityMedium, auditinternal.LevelRequest, bodyVerbs, responseVerbs, "whatever applications keep in them, credentials too"},
}

const sensitiveFix = `log them at Metadata before this rule: - level: Metadata
  resources: [{group: "", resources: [secrets, configmaps, serviceaccounts/token]}, {group: authentication.k8s.io, resources: [tokenreviews]}]`

func (l *linter) sensitive() {
	rs := l.p.Rules
	for j := range rs {
		r := &rs[j]
		if !isPayload(r.Level) {
			continue
		}
		var names []string
		sev := rules.SeverityInfo
		var why []string
		for _, s := range sensitiveResources {
			if levelRank(r.Level) < levelRank(s.level) {
				continue
			}
			verbs := s.allVerbs
			if r.Level == auditinternal.LevelRequest {
				verbs = s.requestVerbs
			}
			if len(verbs) == 0 || !matchesResource(r, s.group, s.resource, verbs) {
				continue
			}
			if coveredBefore(rs, j, restrict(r, s.group, s.resource, verbs)) >= 0 {
				continue
			}
			names = append(names, s.resource)
			why = append(why, s.resource+": "+s.why)
			sev = max(sev, s.severity)
		}
		if len(names) == 0 {
			continue
		}
		l.add(CheckSensitivePayload, sev, j+1, l.f.RulePos(j), sensitiveFix,
			"rule %d logs %s at %s: the bodies hold secrets (%s)", j+1, strings.Join(names, ", "), r.Level, strings.Join(why, "; "))
	}
}

func levelRank(l auditinternal.Level) int { return audit.LevelRank(string(l)) }

// wellKnownGroups are API groups of common add-ons that no built-in table
// can vouch for.
func (l *linter) groups() {
	res := l.o.Resources
	for j, r := range l.p.Rules {
		for k, gr := range r.Resources {
			pos := l.f.FieldPos(fmt.Sprintf("rules[%d].resources[%d]", j, k))
			if gr.Group == "*" {
				for _, name := range gr.Resources {
					main, _, _ := strings.Cut(name, "/")
					if main != "*" && len(res.GroupsOf(main)) == 0 && res.Live {
						l.add(CheckUnknownResource, rules.SeverityMedium, j+1, pos, "check the spelling (kubectl api-resources)",
							"rule %d: no group serves %q (%s)", j+1, main, res.Source)
					}
				}
				continue
			}
			if !res.HasGroup(gr.Group) {
				if res.Live {
					l.add(CheckUnknownGroup, rules.SeverityMedium, j+1, pos, "check the group's name (kubectl api-versions)",
						"rule %d: the cluster serves no group %q, so this entry matches nothing", j+1, gr.Group)
				} else {
					l.add(CheckUnknownGroup, rules.SeverityInfo, j+1, pos, "run with a reachable cluster (--kubeconfig, --context) to check it against discovery",
						"rule %d: group %q is not one of %s: not checked", j+1, gr.Group, res.Source)
				}
				continue
			}
			var wrong, unknown []string
			var where []string
			for _, name := range gr.Resources {
				main, sub, hasSub := strings.Cut(name, "/")
				if main == "*" {
					continue
				}
				if !res.Serves(gr.Group, main) {
					if others := res.GroupsOf(main); len(others) > 0 {
						wrong = append(wrong, main)
						for i := range others {
							others[i] = groupName(others[i])
						}
						where = append(where, fmt.Sprintf("%s is served by %s", main, strings.Join(others, ", ")))
					} else {
						unknown = append(unknown, name)
					}
					continue
				}
				if hasSub && sub != "*" && !res.Serves(gr.Group, name) {
					msg := name
					if subs := res.Subresources(gr.Group, main); len(subs) > 0 {
						msg += " (" + main + " has " + strings.Join(subs, ", ") + ")"
					} else {
						msg += " (" + main + " has no subresources)"
					}
					unknown = append(unknown, msg)
				}
			}
			if len(wrong) > 0 {
				sev := rules.SeverityMedium
				if gr.Group == "" {
					sev = rules.SeverityHigh
				}
				l.add(CheckWrongGroup, sev, j+1, pos, fmt.Sprintf("list them under their own group: %s", strings.Join(where, "; ")),
					"rule %d lists %s under group %s, which does not serve them, so it never matches them (%s)",
					j+1, strings.Join(wrong, ", "), groupName(gr.Group), strings.Join(where, "; "))
			}
			if len(unknown) > 0 {
				l.add(CheckUnknownResource, rules.SeverityMedium, j+1, pos, "check the spelling (kubectl api-resources)",
					"rule %d: group %s serves no %s (%s)", j+1, groupName(gr.Group), strings.Join(unknown, ", "), res.Source)
			}
		}
	}
}

func omits(stages []auditinternal.Stage, s auditinternal.Stage) bool {
	for _, v := range stages {
		if v == s {
			return true
		}
	}
	return false
}

func (l *linter) requestReceived() {
	if omits(l.p.OmitStages, auditinternal.StageRequestReceived) {
		return
	}
	var logging []string
	for j, r := range l.p.Rules {
		if r.Level != auditinternal.LevelNone && !omits(r.OmitStages, auditinternal.StageRequestReceived) {
			logging = append(logging, fmt.Sprint(j+1))
		}
	}
	if len(logging) == 0 {
		return
	}
	l.add(CheckRequestReceived, rules.SeverityMedium, 0, l.f.TopPos("rules"), "add at the top: omitStages: [RequestReceived]",
		"the RequestReceived stage is logged (rules %s): each request is written once when it arrives and again when it completes, and the first event holds nothing the last does not",
		strings.Join(logging, ", "))
}

func (l *linter) lists() {
	rs := l.p.Rules
	for j := range rs {
		r := &rs[j]
		if r.Level != auditinternal.LevelRequestResponse || kindOfRule(r) == kindNonResource {
			continue
		}
		var verbs []string
		for _, v := range []string{"list", "watch"} {
			if len(r.Verbs) == 0 || has(r.Verbs, v) {
				narrowed := r.DeepCopy()
				narrowed.Verbs = []string{v}
				if coveredBefore(rs, j, narrowed) < 0 {
					verbs = append(verbs, v)
				}
			}
		}
		switch {
		case has(verbs, "list"):
			l.add(CheckListResponse, rules.SeverityMedium, j+1, l.f.RulePos(j),
				"log get, list and watch at Request or Metadata before this rule: - level: Request\n  verbs: [get, list, watch]",
				"rule %d logs lists at RequestResponse: each list's event holds every object it returned, megabytes on a large cluster", j+1)
		case has(verbs, "watch"):
			l.add(CheckListResponse, rules.SeverityLow, j+1, l.f.RulePos(j), "log watches at Metadata",
				"rule %d logs watches at RequestResponse: kube-apiserver does not log watch streams, so this is Metadata under another name", j+1)
		}
	}
}

// healthPaths are the probes' URLs.
var healthPaths = []string{"/healthz", "/healthz/etcd", "/livez", "/livez/ping", "/readyz", "/readyz/informer-sync", "/metrics", "/metrics/slis"}

func (l *linter) health() {
	byRule := map[int][]string{}
	var order []int
	for _, u := range l.representatives() {
		for _, path := range healthPaths {
			attrs := authorizer.AttributesRecord{User: u, Verb: "get", Path: path}
			j, cfg := l.eval.Evaluate(attrs)
			if cfg.Level == auditinternal.LevelNone || j < 0 {
				continue
			}
			if _, ok := byRule[j]; !ok {
				order = append(order, j)
			}
			if !has(byRule[j], path) {
				byRule[j] = append(byRule[j], path)
			}
		}
	}
	sort.Ints(order)
	for _, j := range order {
		l.add(CheckHealthLogged, rules.SeverityLow, j+1, l.f.RulePos(j),
			"drop them first: - level: None\n  nonResourceURLs: [/healthz*, /livez*, /readyz*, /metrics, /metrics/*]",
			"rule %d logs health and metrics probes at %s (%s): load balancers and monitoring call them every few seconds", j+1, l.p.Rules[j].Level, strings.Join(byRule[j], ", "))
	}
}

func (l *linter) managedFields() {
	for j, r := range l.p.Rules {
		if !isPayload(r.Level) {
			continue
		}
		switch {
		case r.OmitManagedFields != nil && !*r.OmitManagedFields:
			l.add(CheckManagedFields, rules.SeverityInfo, j+1, l.f.FieldPos(fmt.Sprintf("rules[%d].omitManagedFields", j)), "omitManagedFields: true, unless the field managers are what you audit",
				"rule %d keeps managedFields in the bodies it logs at %s: often half of each object", j+1, r.Level)
		case r.OmitManagedFields == nil && !l.p.OmitManagedFields:
			l.add(CheckManagedFields, rules.SeverityLow, j+1, l.f.RulePos(j), "add at the top: omitManagedFields: true",
				"rule %d logs bodies at %s with managedFields (omitManagedFields is unset): often half of each object, and no detector reads it", j+1, r.Level)
		}
	}
}

// representatives are the users the user-dependent checks evaluate as: a
// person, a service account, a controller, a node, an admin, anonymous,
// and every user and group the policy names.
func (l *linter) representatives() []user.Info {
	out := []user.Info{
		&user.DefaultInfo{Name: "jane@example.com", Groups: []string{"system:authenticated"}},
		&user.DefaultInfo{Name: "system:serviceaccount:default:app", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"}},
		&user.DefaultInfo{Name: "system:serviceaccount:kube-system:replicaset-controller", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}},
		&user.DefaultInfo{Name: "system:node:node-1", Groups: []string{"system:nodes", "system:authenticated"}},
		&user.DefaultInfo{Name: "kubernetes-admin", Groups: []string{"system:masters", "system:authenticated"}},
		&user.DefaultInfo{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}},
	}
	seen := map[string]bool{}
	for _, u := range out {
		seen[u.GetName()] = true
	}
	for _, r := range l.p.Rules {
		for _, name := range r.Users {
			if !seen[name] {
				seen[name] = true
				out = append(out, &user.DefaultInfo{Name: name, Groups: []string{"system:authenticated"}})
			}
		}
		for _, g := range r.UserGroups {
			if !seen["group:"+g] {
				seen["group:"+g] = true
				out = append(out, &user.DefaultInfo{Name: "member-of:" + g, Groups: []string{g, "system:authenticated"}})
			}
		}
	}
	return out
}
