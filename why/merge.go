package why

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// maxChanges bounds the field changes kept per entry.
const maxChanges = 20

type objKey struct{ resource, namespace, name string }

type objInfo struct {
	key    objKey
	res    Resource
	uids   map[string]bool
	owners []ownerRef
}

// Merge combines the collectors of one read into the timeline. The result
// does not depend on how events were split between collectors.
func Merge(opts Options, cs []*Collector) *Timeline {
	var recs []record
	for _, c := range cs {
		recs = append(recs, c.records...)
	}
	// Time order; calls at the same time in the order the log has them
	// (input, then offset), which does not depend on the workers.
	sort.SliceStable(recs, func(i, j int) bool {
		if !recs[i].Time.Equal(recs[j].Time) {
			return recs[i].Time.Before(recs[j].Time)
		}
		return recs[i].pos.Before(recs[j].pos)
	})
	target := objKey{opts.Resource.Key(), "", opts.Name}
	if opts.Resource.Namespaced {
		target.namespace = opts.Namespace
	}
	if opts.AnyNamespace {
		// The scope is learned: the namespace of the object's first call
		// ("" when the type is cluster-scoped).
		for i := range recs {
			if recs[i].Object.Resource == target.resource && recs[i].Object.Name == opts.Name {
				target.namespace = recs[i].Object.Namespace
				break
			}
		}
	}
	tl := &Timeline{Object: ObjectRef{Kind: opts.Resource.Kind, Resource: opts.Resource.Key(), Namespace: target.namespace, Name: opts.Name}}

	objs := map[objKey]*objInfo{}
	for i := range recs {
		r := &recs[i]
		k := keyOf(r)
		o := objs[k]
		if o == nil {
			o = &objInfo{key: k, res: r.res, uids: map[string]bool{}}
			objs[k] = o
		}
		if r.uid != "" {
			o.uids[r.uid] = true
		}
		if len(r.owners) > 0 && len(o.owners) == 0 {
			o.owners = r.owners
		}
	}
	relation := map[objKey]string{target: RelationSelf}
	if opts.Owners {
		tl.OwnerChain = ownerChain(objs, target, opts.Resource, relation)
		tl.Owned = owned(objs, target, relation)
	}

	states := map[objKey]map[string]string{}
	for i := range recs {
		r := &recs[i]
		k := keyOf(r)
		rel, ok := relation[k]
		if !ok {
			continue
		}
		r.Relation = rel
		r.Object.UID = r.uid
		r.changes(states, k)
		tl.Entries = append(tl.Entries, r.Entry)
	}
	tl.trackUIDs()
	tl.summarize()
	return tl
}

func keyOf(r *record) objKey { return objKey{r.Object.Resource, r.Object.Namespace, r.Object.Name} }

// changes fills the entry's Changes and advances the object's state.
func (r *record) changes(states map[objKey]map[string]string, k objKey) {
	if !r.hasReq && !r.hasResp {
		return
	}
	prev := states[k]
	var ch []FieldChange
	ok := r.Succeeded()
	main := r.Subresource == ""
	switch r.Verb {
	case "create":
		ls := r.respLeaves
		if !r.hasResp {
			ls = r.reqLeaves
		}
		if main || r.Subresource == "binding" || r.Subresource == "eviction" {
			if main {
				ch = headline(ls)
			} else {
				ch = patchChanges(ls, nil)
			}
		}
		if ok && main {
			states[k] = toMap(ls)
		}
	case "update":
		next := r.respLeaves
		if !r.hasResp {
			next = r.reqLeaves
		}
		if main && prev != nil {
			ch = diff(prev, toMap(next))
		} else if main {
			ch = headline(next)
		} else {
			ch = patchChanges(r.reqLeaves, nil)
		}
		if ok && main {
			states[k] = toMap(next)
		}
	case "patch":
		switch {
		case r.jsonPatch != nil:
			ch = r.jsonPatch
		case main:
			ch = patchChanges(r.reqLeaves, prev)
		default:
			ch = patchChanges(r.reqLeaves, nil)
		}
		if ok && main {
			if r.hasResp {
				states[k] = toMap(r.respLeaves)
			} else if prev != nil {
				for _, l := range r.reqLeaves {
					prev[l.path] = l.value
				}
			}
		}
	case "delete", "deletecollection":
		// DeleteOptions; preconditions only repeat the uid and version.
		for _, c := range patchChanges(r.reqLeaves, nil) {
			if !strings.HasPrefix(c.Path, "preconditions.") {
				ch = append(ch, c)
			}
		}
	default:
		ch = patchChanges(r.reqLeaves, nil)
	}
	if len(ch) > maxChanges {
		r.MoreChanges = len(ch) - maxChanges
		ch = ch[:maxChanges]
	}
	r.Changes = ch
}

// ownerChain walks up from the target: ownerReferences from logged bodies
// first, else names (pod web-5d4f8b7c9-x2x7q → replicaset web-5d4f8b7c9 →
// deployment web) when those objects appear in the log.
func ownerChain(objs map[objKey]*objInfo, target objKey, res Resource, relation map[objKey]string) []ObjectRef {
	var chain []ObjectRef
	cur, curRes := target, res
	for depth := 0; depth < 8; depth++ {
		var next *objKey
		var nextRef ObjectRef
		if o := objs[cur]; o != nil && len(o.owners) > 0 {
			ref := o.owners[0]
			for _, x := range o.owners {
				if x.controller {
					ref = x
					break
				}
			}
			pr, ok := ResourceForKind(ref.apiVersion, ref.kind)
			nextRef = ObjectRef{Kind: ref.kind, Resource: pr.Key(), Name: ref.name, UID: ref.uid}
			if !ok {
				nextRef.Resource = strings.ToLower(ref.kind)
			}
			if pr.Namespaced || !ok {
				nextRef.Namespace = cur.namespace
			}
			k := objKey{nextRef.Resource, nextRef.Namespace, ref.name}
			next = &k
			curRes = pr
		} else {
			// Longest name that is a known parent by name.
			var best *objInfo
			for _, p := range objs {
				if p.key.namespace == cur.namespace && inferChild(p.res.Resource, p.key.name, curRes.Resource, cur.name) &&
					(best == nil || len(p.key.name) > len(best.key.name)) {
					best = p
				}
			}
			if best == nil {
				break
			}
			nextRef = ObjectRef{Kind: best.res.Kind, Resource: best.key.resource, Namespace: best.key.namespace, Name: best.key.name}
			k := best.key
			next = &k
			curRes = best.res
		}
		if _, seen := relation[*next]; seen {
			break
		}
		relation[*next] = RelationOwner
		chain = append(chain, nextRef)
		cur = *next
	}
	return chain
}

// owned finds the objects owned by the target, directly or not.
func owned(objs map[objKey]*objInfo, target objKey, relation map[objKey]string) []ObjectRef {
	keys := make([]objKey, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.resource != b.resource {
			return a.resource < b.resource
		}
		return a.name < b.name
	})
	var out []ObjectRef
	queue := []objKey{target}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		p := objs[parent]
		pres, _ := LookupBuiltin(parent.resource)
		for _, k := range keys {
			if _, seen := relation[k]; seen || k.namespace != parent.namespace {
				continue
			}
			c := objs[k]
			child := false
			if len(c.owners) > 0 {
				for _, ref := range c.owners {
					if (p != nil && ref.uid != "" && p.uids[ref.uid]) || (ref.name == parent.name && strings.EqualFold(ref.kind, pres.Kind)) {
						child = true
					}
				}
			} else {
				child = inferChild(pres.Resource, parent.name, c.res.Resource, k.name)
			}
			if child {
				relation[k] = RelationOwned
				out = append(out, ObjectRef{Kind: c.res.Kind, Resource: k.resource, Namespace: k.namespace, Name: k.name})
				queue = append(queue, k)
			}
		}
	}
	return out
}

var (
	hashSuffix  = regexp.MustCompile(`^[a-z0-9]{5,10}$`)
	podSuffix   = regexp.MustCompile(`^[a-z0-9]{5}$`)
	digitSuffix = regexp.MustCompile(`^[0-9]+$`)
)

// inferChild reports whether an object's name says it was made by the
// parent's controller: deployment web → replicaset web-<pod-template-hash>,
// replicaset/daemonset/job → pod <parent>-<5 chars>, statefulset → pod
// <parent>-<ordinal>, cronjob → job <parent>-<scheduled time>.
func inferChild(parentRes, parentName, childRes, childName string) bool {
	suffix, ok := strings.CutPrefix(childName, parentName+"-")
	if !ok {
		return false
	}
	switch parentRes + ">" + childRes {
	case "deployments>replicasets":
		return hashSuffix.MatchString(suffix)
	case "replicasets>pods", "daemonsets>pods", "jobs>pods", "replicationcontrollers>pods":
		return podSuffix.MatchString(suffix)
	case "statefulsets>pods", "cronjobs>jobs":
		return digitSuffix.MatchString(suffix)
	}
	return false
}

// trackUIDs tells apart objects that had the same name: a successful create
// starts a new object; entries without a logged uid take the uid of the
// object they fall in.
func (tl *Timeline) trackUIDs() {
	cur := -1
	var uids []string
	var members [][]int
	for i := range tl.Entries {
		e := &tl.Entries[i]
		if e.Relation != RelationSelf {
			continue
		}
		if e.Verb == "create" && e.Subresource == "" && e.Succeeded() || cur < 0 {
			uids = append(uids, "")
			members = append(members, nil)
			cur = len(uids) - 1
		}
		if e.Object.UID != "" && uids[cur] != "" && uids[cur] != e.Object.UID {
			uids = append(uids, e.Object.UID)
			members = append(members, nil)
			cur = len(uids) - 1
		}
		if e.Object.UID != "" {
			uids[cur] = e.Object.UID
		}
		members[cur] = append(members[cur], i)
	}
	for n, idx := range members {
		for _, i := range idx {
			tl.Entries[i].Object.UID = uids[n]
		}
		if uids[n] != "" && (len(tl.UIDs) == 0 || tl.UIDs[len(tl.UIDs)-1] != uids[n]) {
			tl.UIDs = append(tl.UIDs, uids[n])
		}
	}
}

func action(e *Entry) *Action {
	return &Action{Time: e.Time, User: e.User, SourceIP: e.SourceIP, UserAgent: e.UserAgent, AuditID: e.AuditID}
}

// summarize writes the one-line answer.
func (tl *Timeline) summarize() {
	var last *Entry
	tl.Created, tl.Deleted, tl.Writes = nil, nil, 0
	reads := 0
	for i := range tl.Entries {
		e := &tl.Entries[i]
		if e.Relation != RelationSelf {
			continue
		}
		if !writeVerbs[e.Verb] {
			reads++
			continue
		}
		if !e.Succeeded() {
			continue
		}
		tl.Writes++
		last = e
		switch {
		case e.Verb == "create" && e.Subresource == "":
			tl.Created, tl.Deleted = action(e), nil
		case (e.Verb == "delete" || e.Verb == "deletecollection") && e.Subresource == "":
			tl.Deleted = action(e)
		}
	}
	name := tl.Object.String()
	switch {
	case tl.Deleted != nil:
		tl.Summary = fmt.Sprintf("%s: deleted %s by %s", name, stamp(tl.Deleted.Time), who(tl.Deleted))
	case tl.Created != nil && last != nil && last.AuditID != tl.Created.AuditID:
		tl.Summary = fmt.Sprintf("%s: created %s by %s; last changed %s by %s", name, stamp(tl.Created.Time), who(tl.Created),
			stamp(last.Time), who(action(last)))
	case tl.Created != nil:
		tl.Summary = fmt.Sprintf("%s: created %s by %s", name, stamp(tl.Created.Time), who(tl.Created))
	case last != nil:
		tl.Summary = fmt.Sprintf("%s: last changed %s by %s (created before the log starts)", name, stamp(last.Time), who(action(last)))
	case reads > 0:
		tl.Summary = fmt.Sprintf("%s: no successful writes in the log, %d reads", name, reads)
	case len(tl.Entries) > 0:
		tl.Summary = fmt.Sprintf("%s: no successful calls in the log", name)
	default:
		tl.Summary = fmt.Sprintf("%s: not in the log", name)
	}
	if len(tl.UIDs) > 1 {
		tl.Summary += fmt.Sprintf(" (%d objects had this name)", len(tl.UIDs))
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// who is "alice (from 127.0.0.1, kubectl)".
func who(a *Action) string {
	var parts []string
	if a.SourceIP != "" {
		parts = append(parts, "from "+a.SourceIP)
	}
	if p := audit.ProgramName(a.UserAgent); p != "" {
		parts = append(parts, p)
	}
	u := a.User
	if u == "" {
		u = "(unknown user)"
	}
	if len(parts) == 0 {
		return u
	}
	return u + " (" + strings.Join(parts, ", ") + ")"
}
