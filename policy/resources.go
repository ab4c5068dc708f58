package policy

import (
	_ "embed"
	"sort"
	"strings"
)

//go:embed builtin-resources.txt
var builtinResourcesText string

// Resources is what API groups serve which resources (and subresources,
// as "pods/log"): a live cluster's discovery, or the built-in table of
// Kubernetes v1.37.
type Resources struct {
	// Source says where the table comes from, for messages.
	Source string
	// Live is set for a cluster's discovery: it knows every group the
	// cluster serves, custom ones included.
	Live   bool
	groups map[string]map[string]bool
}

// NewResources builds a table from (group, resource) pairs.
func NewResources(source string, live bool, pairs [][2]string) *Resources {
	r := &Resources{Source: source, Live: live, groups: map[string]map[string]bool{}}
	for _, p := range pairs {
		r.add(p[0], p[1])
	}
	return r
}

func (r *Resources) add(group, resource string) {
	if r.groups[group] == nil {
		r.groups[group] = map[string]bool{}
	}
	r.groups[group][resource] = true
}

// BuiltinResources is every group, resource and subresource
// kube-apiserver v1.37.2 serves (checked against a real one by the e2e
// test TestPolicyBuiltinResources).
func BuiltinResources() *Resources {
	var pairs [][2]string
	for _, line := range strings.Split(builtinResourcesText, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		group, res, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if group == "core" {
			group = ""
		}
		pairs = append(pairs, [2]string{group, res})
	}
	return NewResources("the built-in groups of Kubernetes v1.37", false, pairs)
}

// HasGroup reports whether the table knows the group.
func (r *Resources) HasGroup(group string) bool { return r.groups[group] != nil }

// Serves reports whether group serves the resource (or "res/sub").
func (r *Resources) Serves(group, resource string) bool { return r.groups[group][resource] }

// GroupsOf lists the groups that serve a resource, sorted.
func (r *Resources) GroupsOf(resource string) []string {
	var out []string
	for g, rs := range r.groups {
		if rs[resource] {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

// Subresources lists the subresources of a group's resource, sorted.
func (r *Resources) Subresources(group, resource string) []string {
	var out []string
	for res := range r.groups[group] {
		if main, sub, ok := strings.Cut(res, "/"); ok && main == resource {
			out = append(out, sub)
		}
	}
	sort.Strings(out)
	return out
}

// groupName spells a group for messages: core for "".
func groupName(g string) string {
	if g == "" {
		return `"" (core)`
	}
	return g
}
