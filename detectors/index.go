package detectors

import (
	"sort"
	"strings"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

// bitset is a set of rule indexes.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int) { b[i/64] |= 1 << (i % 64) }

// and intersects b with o and reports whether anything is left.
func (b bitset) and(o bitset) bool {
	var any uint64
	for i := range b {
		b[i] &= o[i]
		any |= b[i]
	}
	return any != 0
}

func (b bitset) intersects(o bitset) bool {
	for i := range b {
		if b[i]&o[i] != 0 {
			return true
		}
	}
	return false
}

// andNot removes o from b and reports whether anything is left.
func (b bitset) andNot(o bitset) bool {
	var any uint64
	for i := range b {
		b[i] &^= o[i]
		any |= b[i]
	}
	return any != 0
}

// strIndex maps one string field's values to the rules that admit them.
type strIndex struct {
	used bool
	// need are the entries that constrain this field: when none is left
	// among the candidates, the field is not even read.
	need  bitset
	vals  map[string]bitset
	other bitset
	// keys and bits are vals as a collision-free table of slotOf: one
	// string compare per lookup instead of a map's hash (nil when no
	// small table is collision-free; bits nil marks a free slot).
	keys []string
	bits []bitset
	mask uint32
}

// slotOf hashes a value from its length and three of its bytes: the
// values rules name (verbs, resources, namespaces) differ there.
func slotOf(s string) uint32 {
	n := len(s)
	if n == 0 {
		return 0
	}
	return uint32(n)*0x9E3779B1 ^ uint32(s[0])*0x85EBCA6B ^ uint32(s[n-1])*0xC2B2AE35 ^ uint32(s[n/2])*0x27D4EB2F
}

// perfect builds keys and bits from vals.
func (x *strIndex) perfect() {
	for size := 16; size <= 1<<12; size *= 2 {
		if size < 2*len(x.vals) {
			continue
		}
		keys, bits := make([]string, size), make([]bitset, size)
		mask := uint32(size - 1)
		ok := true
		for v, b := range x.vals {
			i := slotOf(v) & mask
			if bits[i] != nil {
				ok = false
				break
			}
			keys[i], bits[i] = v, b
		}
		if ok {
			x.keys, x.bits, x.mask = keys, bits, mask
			return
		}
	}
}

func buildStrIndex(n int, sets []*rules.StrSet) strIndex {
	idx := strIndex{vals: map[string]bitset{}, other: newBitset(n), need: newBitset(n)}
	for i, s := range sets {
		if s == nil {
			continue
		}
		idx.used = true
		idx.need.set(i)
		for v := range s.Vals {
			if _, ok := idx.vals[v]; !ok {
				idx.vals[v] = newBitset(n)
			}
		}
	}
	for i, s := range sets {
		// A value no rule names is admitted by nil and negated sets.
		if s.Has("\x00not a value\x00") {
			idx.other.set(i)
		}
		for v, b := range idx.vals {
			if s.Has(v) {
				b.set(i)
			}
		}
	}
	idx.perfect()
	return idx
}

// wanted reports whether some candidate in m constrains the field.
func (x *strIndex) wanted(m bitset) bool { return x.used && m.intersects(x.need) }

func (x *strIndex) lookup(v string) bitset {
	if x.bits != nil {
		i := slotOf(v) & x.mask
		if b := x.bits[i]; b != nil && x.keys[i] == v {
			return b
		}
		return x.other
	}
	if b, ok := x.vals[v]; ok {
		return b
	}
	return x.other
}

// index finds the rules an event may match from its prefilter fields.
// Each term of each rule's filter is one entry; a rule is a candidate
// when one of its entries admits the event.
type index struct {
	all                                                    bitset
	owner                                                  []int // entry -> rule
	verb, resource, subresource, apiGroup, stage, decision strIndex
	apiVersion, namespace, impersonated                    strIndex
	codeUsed                                               bool
	code                                                   [1024]bitset
	userUsed                                               bool
	userNeed                                               bitset
	// userNode: some rule tells apart users with and without a node,
	// which costs a user.extra lookup for non-node users.
	userNode bool
	user     [64]bitset
	// latency: thresholds ascending; latMasks[i] admits latencies with
	// exactly i thresholds at or below them.
	thresholds []float64
	latMasks   []bitset
	// annotation keys entries require, with the entries that do.
	annKeys  []string
	annMasks []bitset
}

func buildIndex(filters []rules.Filter) *index {
	var pfs []rules.Prefilter
	x := &index{}
	for i, f := range filters {
		for _, p := range f {
			pfs = append(pfs, p)
			x.owner = append(x.owner, i)
		}
	}
	n := len(pfs)
	x.all = newBitset(n)
	for i := range pfs {
		x.all.set(i)
	}
	pick := func(f func(p rules.Prefilter) *rules.StrSet) []*rules.StrSet {
		out := make([]*rules.StrSet, n)
		for i, p := range pfs {
			out[i] = f(p)
		}
		return out
	}
	x.verb = buildStrIndex(n, pick(func(p rules.Prefilter) *rules.StrSet { return p.Verb }))
	x.resource = buildStrIndex(n, pick(func(p rules.Prefilter) *rules.StrSet { return p.Resource }))
	x.subresource = buildStrIndex(n, pick(func(p rules.Prefilter) *rules.StrSet { return p.Subresource }))
	x.apiGroup = buildStrIndex(n, pick(func(p rules.Prefilter) *rules.StrSet { return p.APIGroup }))
	x.stage = buildStrIndex(n, pick(func(p rules.Prefilter) *rules.StrSet { return p.Stage }))
	x.decision = buildStrIndex(n, pick(func(p rules.Prefilter) *rules.StrSet { return p.Decision }))
	x.apiVersion = buildStrIndex(n, pick(func(p rules.Prefilter) *rules.StrSet { return p.APIVersion }))
	x.namespace = buildStrIndex(n, pick(func(p rules.Prefilter) *rules.StrSet { return p.Namespace }))
	x.impersonated = buildStrIndex(n, pick(func(p rules.Prefilter) *rules.StrSet { return p.Impersonated }))
	for c := range x.code {
		x.code[c] = newBitset(n)
	}
	for f := range x.user {
		x.user[f] = newBitset(n)
	}
	x.userNeed = newBitset(n)
	ths := map[float64]bool{}
	keys := map[string]bitset{}
	for i, p := range pfs {
		if p.Code != nil {
			x.codeUsed = true
		}
		if p.User != nil {
			x.userUsed = true
			x.userNeed.set(i)
			for f := 0; f < 64; f++ {
				if f&rules.UserHasNode == 0 && p.User.Has(f) != p.User.Has(f|rules.UserHasNode) {
					x.userNode = true
				}
			}
		}
		for c := range x.code {
			if p.Code.Has(c) {
				x.code[c].set(i)
			}
		}
		for f := range x.user {
			if p.User.Has(f) {
				x.user[f].set(i)
			}
		}
		if p.MinLatency > 0 {
			ths[p.MinLatency] = true
		}
		for _, k := range p.Annotations {
			if keys[k] == nil {
				keys[k] = newBitset(n)
			}
			keys[k].set(i)
		}
	}
	for t := range ths {
		x.thresholds = append(x.thresholds, t)
	}
	sort.Float64s(x.thresholds)
	for b := 0; b <= len(x.thresholds) && len(x.thresholds) > 0; b++ {
		m := newBitset(n)
		for i, p := range pfs {
			// bucket b holds latencies >= thresholds[b-1] (and below
			// thresholds[b]): admitted when the entry's minimum is one of
			// the first b thresholds, or it has none.
			if p.MinLatency == 0 || b > 0 && p.MinLatency <= x.thresholds[b-1] {
				m.set(i)
			}
		}
		x.latMasks = append(x.latMasks, m)
	}
	for k := range keys {
		x.annKeys = append(x.annKeys, k)
	}
	sort.Strings(x.annKeys)
	for _, k := range x.annKeys {
		x.annMasks = append(x.annMasks, keys[k])
	}
	return x
}

// candidates leaves in m the entries e may match; false when none.
func (x *index) candidates(e *audit.Event, m bitset) bool {
	copy(m, x.all)
	if x.verb.wanted(m) && !m.and(x.verb.lookup(e.Verb)) {
		return false
	}
	if x.codeUsed && !m.and(x.code[rules.CodeIndex(e.Code)]) {
		return false
	}
	if x.stage.wanted(m) && !m.and(x.stage.lookup(e.Stage)) {
		return false
	}
	if x.resource.wanted(m) && !m.and(x.resource.lookup(e.ObjectRef.Resource)) {
		return false
	}
	if x.subresource.wanted(m) && !m.and(x.subresource.lookup(e.ObjectRef.Subresource)) {
		return false
	}
	if x.apiGroup.wanted(m) && !m.and(x.apiGroup.lookup(e.ObjectRef.APIGroup)) {
		return false
	}
	if x.apiVersion.wanted(m) && !m.and(x.apiVersion.lookup(e.ObjectRef.APIVersion)) {
		return false
	}
	if x.namespace.wanted(m) && !m.and(x.namespace.lookup(e.ObjectRef.Namespace)) {
		return false
	}
	if x.impersonated.wanted(m) {
		v := "no"
		if e.HasImpersonation() {
			v = "yes"
		}
		if !m.and(x.impersonated.lookup(v)) {
			return false
		}
	}
	if x.userUsed && m.intersects(x.userNeed) {
		u := e.User.Username
		// As Event.NodeName: a kubelet's name follows the prefix ("system:node:"
		// alone names no node).
		hasNode := len(u) > len("system:node:") && strings.HasPrefix(u, "system:node:")
		if !hasNode && x.userNode {
			hasNode = e.NodeName() != ""
		}
		if !m.and(x.user[rules.UserFlags(u, hasNode)]) {
			return false
		}
	}
	if len(x.thresholds) > 0 {
		lat := e.Latency().Seconds()
		b := 0
		for b < len(x.thresholds) && x.thresholds[b] <= lat {
			b++
		}
		if !m.and(x.latMasks[b]) {
			return false
		}
	}
	for i, k := range x.annKeys {
		if m.intersects(x.annMasks[i]) && e.Annotation(k) == "" {
			if !m.andNot(x.annMasks[i]) {
				return false
			}
		}
	}
	if x.decision.wanted(m) && !m.and(x.decision.lookup(e.Decision())) {
		return false
	}
	return true
}
