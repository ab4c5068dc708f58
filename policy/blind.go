package policy

import (
	"fmt"
	"sort"
	"strings"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

// target is one kind of request a detect rule watches, read from its
// prefilter: a verb (or any) on a group's resource in a namespace.
type target struct {
	group, resource, subresource string
	verbs                        []string
	namespace                    string
}

// writeVerbs stand for "any verb" of a rule that needs bodies.
var writeVerbs = []string{"create", "update", "patch"}

// targets lists what a rule's prefilter says it watches; nil when it
// names no resource or group (it watches every request).
func targets(r *rules.Rule, res *Resources) []target {
	c := r.Compiled()
	if c == nil {
		return nil
	}
	var out []target
	seen := map[string]bool{}
	for _, p := range c.Prefilter {
		resources := positive(p.Resource)
		groups := positive(p.APIGroup)
		if resources == nil && groups == nil {
			return nil
		}
		subs := positive(p.Subresource)
		if subs == nil {
			subs = []string{""}
		}
		verbs := positive(p.Verb)
		if verbs == nil && audit.LevelRank(r.Needs) > audit.LevelRank(audit.LevelMetadata) {
			verbs = writeVerbs
		}
		ns := "default"
		if pos := positive(p.Namespace); len(pos) > 0 {
			ns = pos[0]
		} else if p.Namespace != nil && p.Namespace.Neg && p.Namespace.Vals["default"] {
			ns = "apps"
		}
		if resources == nil {
			for _, g := range groups {
				resources = append(resources, res.mainResources(g)...)
			}
		}
		for _, rr := range resources {
			gs := groups
			if gs == nil {
				gs = res.GroupsOf(rr)
			}
			for _, g := range gs {
				for _, s := range subs {
					t := target{group: g, resource: rr, subresource: s, verbs: verbs, namespace: ns}
					k := fmt.Sprint(t)
					if !seen[k] {
						seen[k] = true
						out = append(out, t)
					}
				}
			}
		}
	}
	return out
}

// positive is a string set's values when it is a plain set, else nil.
func positive(s *rules.StrSet) []string {
	if s == nil || s.Neg {
		return nil
	}
	out := make([]string, 0, len(s.Vals))
	for v := range s.Vals {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func (r *Resources) mainResources(group string) []string {
	var out []string
	for res := range r.groups[group] {
		if !strings.Contains(res, "/") {
			out = append(out, res)
		}
	}
	sort.Strings(out)
	return out
}

// blindSpot is where a detect rule does not get the level it needs.
type blindSpot struct {
	t     target
	verb  string
	who   string
	level auditinternal.Level
	rule  int // deciding policy rule, -1 for none
}

// blindNote is one finding about blind detectors before detectors that
// share it are merged.
type blindNote struct {
	ids  []string
	sev  rules.Severity
	rule int
	pos  Pos
	text string // after "<ids> is|are "
	fix  string
}

// detectors reports the shipped rules the policy leaves blind: each
// rule's targets are evaluated as every representative user, with
// kube-apiserver's evaluator.
func (l *linter) detectors() {
	reps := l.representatives()
	var notes []blindNote
	for _, d := range l.o.Detectors {
		needs := audit.LevelRank(d.Needs)
		if needs == 0 {
			continue
		}
		ts := targets(d, l.o.Resources)
		if len(ts) == 0 {
			continue
		}
		var spots []blindSpot
		total := 0
		for _, t := range ts {
			verbs := t.verbs
			if len(verbs) == 0 {
				verbs = []string{"get"}
			}
			for _, v := range verbs {
				for _, u := range reps {
					total++
					attrs := authorizer.AttributesRecord{User: u, Verb: v, ResourceRequest: true, APIGroup: t.group,
						Resource: t.resource, Subresource: t.subresource, Namespace: t.namespace}
					j, cfg := l.eval.Evaluate(attrs)
					if levelRank(cfg.Level) < needs {
						spots = append(spots, blindSpot{t: t, verb: v, who: u.GetName(), level: cfg.Level, rule: j})
					}
				}
			}
		}
		// What no rule matches is the missing catch-all's finding.
		var ruled []blindSpot
		for _, sp := range spots {
			if sp.rule >= 0 {
				ruled = append(ruled, sp)
			}
		}
		if len(ruled) < len(spots) && !has(l.unlogged, d.ID) {
			l.unlogged = append(l.unlogged, d.ID)
		}
		if len(ruled) > 0 {
			notes = append(notes, l.blindNotes(d, ruled, total, len(reps))...)
		}
	}
	// Detectors in the same situation share one finding.
	var merged []blindNote
	for _, n := range notes {
		found := false
		for i := range merged {
			if merged[i].text == n.text && merged[i].rule == n.rule {
				merged[i].ids = append(merged[i].ids, n.ids...)
				merged[i].sev = max(merged[i].sev, n.sev)
				found = true
				break
			}
		}
		if !found {
			merged = append(merged, n)
		}
	}
	if len(l.unlogged) > 0 {
		for i := range l.out {
			if l.out[i].Check == CheckNoCatchAll {
				l.out[i].Message += fmt.Sprintf("; so these shipped detect rules miss what they watch: %s", strings.Join(l.unlogged, ", "))
			}
		}
	}
	for _, n := range merged {
		verb := "is"
		if len(n.ids) > 1 {
			verb = "are"
		}
		l.add(CheckBlindDetector, n.sev, n.rule, n.pos, n.fix, "%s %s %s", strings.Join(n.ids, ", "), verb, n.text)
	}
}

func (l *linter) blindNotes(d *rules.Rule, spots []blindSpot, total, reps int) []blindNote {
	sev := rules.SeverityMedium
	if d.Severity >= rules.SeverityHigh {
		sev = rules.SeverityHigh
	}
	var what, verbs, levels []string
	var ruleNums []string
	firstRule := -2
	for _, s := range spots {
		if r := s.t.name(); !has(what, r) {
			what = append(what, r)
		}
		if !has(verbs, s.verb) {
			verbs = append(verbs, s.verb)
		}
		if !has(levels, string(s.level)) {
			levels = append(levels, string(s.level))
		}
		n := "no rule"
		if s.rule >= 0 {
			n = "rule " + fmt.Sprint(s.rule+1)
		}
		if !has(ruleNums, n) {
			ruleNums = append(ruleNums, n)
		}
		if firstRule == -2 {
			firstRule = s.rule
		}
	}
	pos, rule := l.f.TopPos("rules"), 0
	if firstRule >= 0 {
		pos, rule = l.f.RulePos(firstRule), firstRule+1
	}
	sort.Strings(ruleNums)
	if len(ruleNums) > 1 {
		ruleNums = []string{"rules " + strings.Join(strings.Fields(strings.ReplaceAll(strings.Join(ruleNums, " "), "rule ", "")), ", ")}
	}
	if len(spots) == total {
		return []blindNote{{ids: []string{d.ID}, sev: sev, rule: rule, pos: pos,
			text: fmt.Sprintf("blind: %s %s logged at %s (%s; %s); it needs %s",
				strings.Join(what, ", "), areIs(what), strings.Join(levels, " or "), strings.Join(verbs, ", "), strings.Join(ruleNums, ", "), d.Needs),
			fix: fmt.Sprintf("log %s of %s at %s or more, before %s", strings.Join(verbs, ", "), strings.Join(what, ", "), d.Needs, strings.Join(ruleNums, ", "))}}
	}
	// Partly blind: one note per deciding rule, naming the users when not
	// every user is blind there.
	type key struct {
		rule  int
		level auditinternal.Level
	}
	var keys []key
	byKey := map[key][]blindSpot{}
	for _, s := range spots {
		k := key{s.rule, s.level}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], s)
	}
	var out []blindNote
	for _, k := range keys {
		var what, verbs []string
		users := map[string]map[string]bool{}
		for _, s := range byKey[k] {
			r := s.t.name()
			if !has(what, r) {
				what = append(what, r)
			}
			if !has(verbs, s.verb) {
				verbs = append(verbs, s.verb)
			}
			if users[r+" "+s.verb] == nil {
				users[r+" "+s.verb] = map[string]bool{}
			}
			users[r+" "+s.verb][s.who] = true
		}
		var who []string
		for _, s := range byKey[k] {
			if len(users[s.t.name()+" "+s.verb]) < reps && !has(who, s.who) {
				who = append(who, s.who)
			}
		}
		detail := strings.Join(verbs, ", ")
		if len(who) > 0 {
			detail += " by " + strings.Join(limit(who, 3), ", ")
		}
		by := "no rule matches them, so they are not logged"
		pos, rule := l.f.TopPos("rules"), 0
		if k.rule >= 0 {
			by = "rule " + fmt.Sprint(k.rule+1)
			pos, rule = l.f.RulePos(k.rule), k.rule+1
		}
		fix := fmt.Sprintf("log %s of %s at %s or more", detail, strings.Join(what, ", "), d.Needs)
		if k.rule >= 0 {
			fix += ", before rule " + fmt.Sprint(k.rule+1)
		}
		out = append(out, blindNote{ids: []string{d.ID}, sev: rules.SeverityLow, rule: rule, pos: pos,
			text: fmt.Sprintf("partly blind: %s %s logged at %s (%s; %s); it needs %s",
				strings.Join(what, ", "), areIs(what), k.level, detail, by, d.Needs), fix: fix})
	}
	return out
}

func areIs(what []string) string {
	if len(what) == 1 && !strings.HasSuffix(what[0], "s") {
		return "is"
	}
	return "are"
}

// name spells a target's resource as kubectl does: pods, pods/exec,
// clusterroles.rbac.authorization.k8s.io.
func (t target) name() string {
	n := t.resource
	if t.group != "" {
		n += "." + t.group
	}
	if t.subresource != "" {
		n += "/" + t.subresource
	}
	return n
}

func limit(list []string, n int) []string {
	if len(list) <= n {
		return list
	}
	return append(append([]string{}, list[:n]...), fmt.Sprintf("%d more", len(list)-n))
}
