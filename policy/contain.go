package policy

import (
	"strings"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
)

// The containment below decides, from the rules' fields alone, whether
// every request one rule matches is also matched by another, with the
// semantics of kube-apiserver's ruleMatches (k8s.io/apiserver/pkg/audit/
// policy): an empty list matches anything; users, userGroups and verbs
// are sets; a rule with resources or namespaces matches resource requests
// only, one with nonResourceURLs non-resource requests only, and one with
// neither both; resources match by group ("*" any), by resource with the
// wildcards "*", "*/sub" and "res/*" (which matches res itself too), and
// by resourceNames; non-resource URLs by "*", exact path, or a trailing
// "*" prefix. It is sound (a "yes" is always right) and pairwise: a rule
// covered only by several earlier rules together is not reported.

// kind of requests a rule can match.
type reqKind int

const (
	kindAny reqKind = iota
	kindResource
	kindNonResource
)

func kindOfRule(r *auditinternal.PolicyRule) reqKind {
	switch {
	case len(r.Namespaces) > 0 || len(r.Resources) > 0:
		return kindResource
	case len(r.NonResourceURLs) > 0:
		return kindNonResource
	}
	return kindAny
}

// isCatchAll reports a rule that matches every request.
func isCatchAll(r *auditinternal.PolicyRule) bool {
	return len(r.Users) == 0 && len(r.UserGroups) == 0 && len(r.Verbs) == 0 && kindOfRule(r) == kindAny
}

// setCovers: a list matcher a covers b when a is empty (anything), or b is
// non-empty and every value of b is in a.
func setCovers(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, v := range b {
		if !has(a, v) {
			return false
		}
	}
	return true
}

func has(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// covers reports whether rule a matches every request rule b matches.
func covers(a, b *auditinternal.PolicyRule) bool {
	if !setCovers(a.Users, b.Users) || !setCovers(a.UserGroups, b.UserGroups) || !setCovers(a.Verbs, b.Verbs) {
		return false
	}
	ka, kb := kindOfRule(a), kindOfRule(b)
	switch ka {
	case kindAny:
		return true
	case kindResource:
		if kb != kindResource {
			return false
		}
		if !setCovers(a.Namespaces, b.Namespaces) {
			return false
		}
		if len(a.Resources) == 0 {
			return true
		}
		if len(b.Resources) == 0 {
			return false
		}
		for _, gb := range b.Resources {
			if !groupResourcesCovered(a.Resources, gb) {
				return false
			}
		}
		return true
	default: // kindNonResource
		if kb != kindNonResource {
			return false
		}
		for _, u := range b.NonResourceURLs {
			if !urlCovered(a.NonResourceURLs, u) {
				return false
			}
		}
		return true
	}
}

// anyResource stands for a GroupResources without resources: every
// resource of its group.
const anyResource = "\x00any"

// groupResourcesCovered: every request gb matches is matched by one of as.
func groupResourcesCovered(as []auditinternal.GroupResources, gb auditinternal.GroupResources) bool {
	pats := gb.Resources
	if len(pats) == 0 {
		pats = []string{anyResource}
	}
	for _, pb := range pats {
		ok := false
		for _, ga := range as {
			if groupCovers(ga.Group, gb.Group) && setCovers(ga.ResourceNames, gb.ResourceNames) && resourcesCover(ga.Resources, pb) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func groupCovers(a, b string) bool { return a == "*" || a == b }

func resourcesCover(as []string, pb string) bool {
	if len(as) == 0 {
		return true
	}
	for _, pa := range as {
		if patternCovers(pa, pb) {
			return true
		}
	}
	return false
}

// patternCovers: resource pattern a matches every combined resource
// ("pods", "pods/log") pattern b matches.
func patternCovers(a, b string) bool {
	switch {
	case a == "*":
		return true
	case b == anyResource || b == "*":
		return false
	case strings.HasSuffix(a, "/*"):
		res := strings.TrimSuffix(a, "/*")
		main, _, _ := strings.Cut(b, "/")
		return main == res && main != "*"
	case strings.HasPrefix(a, "*/"):
		_, sub, ok := strings.Cut(b, "/")
		return ok && sub == strings.TrimPrefix(a, "*/") && !strings.HasSuffix(b, "/*")
	}
	return a == b && !strings.Contains(b, "*")
}

// urlCovered: a non-resource URL spec u matches only paths one of as
// matches.
func urlCovered(as []string, u string) bool {
	for _, a := range as {
		switch {
		case a == "*":
			return true
		case strings.HasSuffix(a, "*"):
			if strings.HasPrefix(strings.TrimRight(u, "*"), strings.TrimRight(a, "*")) {
				return true
			}
		case a == u && !strings.HasSuffix(u, "*"):
			return true
		}
	}
	return false
}

// restrict returns r narrowed to one resource (and, when verbs is set, to
// those verbs among r's): the part of r that applies to it.
func restrict(r *auditinternal.PolicyRule, group, resource string, verbs []string) *auditinternal.PolicyRule {
	out := r.DeepCopy()
	out.NonResourceURLs = nil
	out.Resources = []auditinternal.GroupResources{{Group: group, Resources: []string{resource}}}
	if len(verbs) > 0 {
		if len(out.Verbs) == 0 {
			out.Verbs = append([]string(nil), verbs...)
		} else {
			var keep []string
			for _, v := range out.Verbs {
				if has(verbs, v) {
					keep = append(keep, v)
				}
			}
			out.Verbs = keep
		}
	}
	return out
}

// matchesResource reports whether r can match some request on the
// combined resource (res or res/sub) of group, with one of verbs (any verb
// when empty), ignoring users, groups and namespaces.
func matchesResource(r *auditinternal.PolicyRule, group, combined string, verbs []string) bool {
	if len(verbs) > 0 && len(r.Verbs) > 0 {
		any := false
		for _, v := range verbs {
			if has(r.Verbs, v) {
				any = true
			}
		}
		if !any {
			return false
		}
	}
	switch kindOfRule(r) {
	case kindNonResource:
		return false
	case kindAny:
		return true
	}
	if len(r.Resources) == 0 {
		return true
	}
	main, sub, _ := strings.Cut(combined, "/")
	for _, gr := range r.Resources {
		if gr.Group != group && gr.Group != "*" {
			continue
		}
		if len(gr.Resources) == 0 {
			return true
		}
		for _, p := range gr.Resources {
			switch {
			case p == combined || p == "*":
				return true
			case sub != "" && strings.HasPrefix(p, "*/") && sub == strings.TrimPrefix(p, "*/"):
				return true
			case strings.HasSuffix(p, "/*") && main == strings.TrimSuffix(p, "/*"):
				return true
			}
		}
	}
	return false
}

// coveredBefore returns the index of a rule before j that covers r (so
// that no request r matches reaches rule j), or -1.
func coveredBefore(rules []auditinternal.PolicyRule, j int, r *auditinternal.PolicyRule) int {
	for i := 0; i < j; i++ {
		if covers(&rules[i], r) {
			return i
		}
	}
	return -1
}
