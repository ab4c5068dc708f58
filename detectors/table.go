package detectors

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/kubectl-audit/kubectl-audit/rules"
)

// A window's groups live in a table: one pointer-free record per group,
// its key and the values its aggregates keep in the table's own byte
// arena, found through an open-addressing index of record numbers. The
// collector has nothing to follow in it but the few aggregates that keep
// more than one value, and a window is a handful of allocations however
// many groups it holds: the shipped rules open ~100,000 groups per 5
// minutes of a large cluster's log, most of them seen once (a controller
// writing each object it owns), and none of them fires. Groups become
// *group (state.go) only to be judged and reported.

// keySeed hashes group keys; one per process, so that the tables of all
// sinks and the engine agree on a key's hash.
var keySeed = maphash.MakeSeed()

func hashKey(k string) uint32 {
	h := maphash.String(keySeed, k)
	return uint32(h) ^ uint32(h>>32)
}

// arena holds bytes that never move: chunks are never grown, so strings
// viewing them stay valid for the arena's life.
type arena struct {
	chunks [][]byte
	// cur is 1 + the index of the chunk being filled.
	cur int
}

const arenaChunk = 64 << 10

// sref locates bytes in an arena.
type sref struct{ chunk, off, n uint32 }

// alloc returns room for n bytes.
func (a *arena) alloc(n int) (sref, []byte) {
	if n == 0 {
		return sref{}, nil
	}
	if n > arenaChunk/4 {
		// A big value gets a chunk of its own.
		a.chunks = append(a.chunks, make([]byte, n))
		return sref{chunk: uint32(len(a.chunks) - 1), n: uint32(n)}, a.chunks[len(a.chunks)-1]
	}
	if a.cur == 0 || len(a.chunks[a.cur-1])+n > cap(a.chunks[a.cur-1]) {
		// Chunks double up to arenaChunk: most tables (a rule's window
		// on one worker) hold a few groups.
		size := 512
		if a.cur > 0 {
			size = min(arenaChunk, 2*cap(a.chunks[a.cur-1]))
		}
		a.chunks = append(a.chunks, make([]byte, 0, max(size, n)))
		a.cur = len(a.chunks)
	}
	k := a.cur - 1
	c := a.chunks[k]
	off := len(c)
	a.chunks[k] = c[:off+n]
	return sref{chunk: uint32(k), off: uint32(off), n: uint32(n)}, a.chunks[k][off : off+n]
}

func (a *arena) add(s string) sref {
	r, b := a.alloc(len(s))
	copy(b, s)
	return r
}

// str views r's bytes.
func (a *arena) str(r sref) string {
	if r.n == 0 {
		return ""
	}
	return unsafe.String(&a.chunks[r.chunk][r.off], r.n)
}

// grec is one group's record.
type grec struct {
	// key is the group key (values joined by NUL), followed in the arena by
	// the values' lengths (4 bytes each).
	key  sref
	hash uint32
	// more is 1 + the index in evs of the group's evidence once it holds
	// more than one event; until then ev0 holds it.
	more        uint32
	nev         uint8
	count       int64
	first, last int64
	ev0         [1]evRef
}

// cagg is one aggregate of one group. Most distinct() and values()
// aggregates see one value per group: it stays here, in the arena (one);
// anything else (more values, other kinds) moves to an aggState in big.
type cagg struct {
	one sref
	// big is 1 + the index in table.big of the aggregate's state.
	big uint32
	// has and lastIsOne are aggState's has, and whether its lastVal is one
	// (else "").
	has, lastIsOne bool
}

type table struct {
	nlabels, naggs int
	ar             arena
	// slots index the records by hash.
	slots slotIndex
	recs  paged[grec]
	evs   paged[[MaxEvidence]evRef]
	aggs  paged[cagg] // naggs per record
	big   paged[aggState]
	// dedup shares the arena's copies of aggregate values: thousands of
	// groups keep the same user agents, users and verbs.
	dedup  strSet
	recent [16]recentValue
}

func newTable(nlabels, naggs int) *table {
	t := &table{nlabels: nlabels, naggs: naggs}
	t.recs.pool, t.evs.pool, t.aggs.pool = &recPages, &evPages, &aggPages
	return t
}

// Pages and slot arrays of the tables that are done (release) serve the
// next ones: a window's part on a sink lives a few seconds, and without
// them its memory would be new memory for the collector to clear and
// collect, several times the input's size.
var (
	recPages, evPages, aggPages sync.Pool
	// slotArrays holds slot arrays by log2 of their length.
	slotArrays [32]sync.Pool
)

// minPooledSlots is the smallest slot array worth keeping.
const minPooledSlots = 1 << 10

// release gives the table's pages and slots back for other tables. The
// table must not be used again: nothing may keep a pointer into its
// records (group and snapshot copy what they keep). The arena is left to
// the collector: strings may view it.
func (t *table) release() {
	t.recs.release()
	t.evs.release()
	t.aggs.release()
	t.slots.release()
	t.dedup.release()
}

func putSlots(s []uint64) {
	if len(s) >= minPooledSlots {
		slotArrays[bits.Len(uint(len(s)))-1].Put(&s)
	}
}

// newSlots returns n (a power of 2) free slots.
func newSlots(n int) []uint64 {
	if n >= minPooledSlots {
		if v := slotArrays[bits.Len(uint(n))-1].Get(); v != nil {
			s := *v.(*[]uint64)
			clear(s)
			return s
		}
	}
	return make([]uint64, n)
}

func (t *table) len() int { return t.recs.n }

// find returns the record of key, whose hash is h.
func (t *table) find(key string, h uint32) (int, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	mask := uint32(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if uint32(s>>32) != h {
			continue
		}
		gi := int(uint32(s) - 1)
		if t.ar.str(t.recs.at(gi).key) == key {
			return gi, true
		}
	}
}

// insert adds a record for key (not in the table), whose values have the
// lengths lens, and returns its index.
func (t *table) insert(key string, h uint32, lens func(k int) int) int {
	if (t.recs.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	ref, b := t.ar.alloc(len(key) + 4*t.nlabels)
	copy(b, key)
	for k := 0; k < t.nlabels; k++ {
		binary.LittleEndian.PutUint32(b[len(key)+4*k:], uint32(lens(k)))
	}
	ref.n = uint32(len(key))
	gi := t.recs.push(grec{key: ref, hash: h})
	for k := 0; k < t.naggs; k++ {
		t.aggs.push(cagg{})
	}
	t.slots.place(h, gi)
	return gi
}

func (t *table) grow() {
	t.slots.rebuild(16, t.recs.n, func(gi int) uint32 { return t.recs.at(gi).hash })
}

// slotIndex finds records by hash: open addressing over slots that hold
// a record's hash (high half) and 1 + its index (low half; 0 is free),
// so that probing reads no record but the one whose hash matches. A
// table's groups and its dedup set (strSet) are indexed so.
type slotIndex []uint64

// place puts record k, of hash h, at the first free slot from h's.
func (x slotIndex) place(h uint32, k int) {
	mask := uint32(len(x) - 1)
	i := h & mask
	for x[i] != 0 {
		i = (i + 1) & mask
	}
	x[i] = uint64(h)<<32 | uint64(k+1)
}

// rebuild takes twice the room (at least `least` slots) from the pool and
// places the n records again, by the hashes hashOf gives.
func (x *slotIndex) rebuild(least, n int, hashOf func(k int) uint32) {
	size := max(least, 2*len(*x))
	putSlots(*x)
	*x = newSlots(size)
	for k := range n {
		x.place(hashOf(k), k)
	}
}

// release gives the slots back to the pool.
func (x *slotIndex) release() {
	putSlots(*x)
	*x = nil
}

// keyOf is record gi's key and the lengths of its values.
func (t *table) keyOf(gi int) (string, []byte) {
	r := t.recs.at(gi)
	if r.key.n == 0 && t.nlabels == 0 {
		return "", nil
	}
	full := t.ar.str(sref{chunk: r.key.chunk, off: r.key.off, n: r.key.n + uint32(4*t.nlabels)})
	return full[:r.key.n], unsafe.Slice(unsafe.StringData(full[r.key.n:]), 4*t.nlabels)
}

// labels cuts record gi's key into its values (views of the arena).
func (t *table) labels(gi int, out []string) {
	key, lens := t.keyOf(gi)
	off := 0
	for k := range out {
		n := int(binary.LittleEndian.Uint32(lens[4*k:]))
		out[k] = key[off : off+n]
		off += n + 1
	}
}

// evidence is record gi's evidence, sorted.
func (t *table) evidence(gi int) []evRef {
	r := t.recs.at(gi)
	if r.more == 0 {
		return r.ev0[:r.nev]
	}
	return t.evs.at(int(r.more - 1))[:r.nev]
}

// see is group.see on record gi.
func (t *table) see(gi int, ts int64, id string, file uint32, off int64) {
	r := t.recs.at(gi)
	r.count++
	if r.count == 1 {
		r.first, r.last = ts, ts
	} else {
		r.first = min(r.first, ts)
		r.last = max(r.last, ts)
	}
	ev := t.evidence(gi)
	if len(ev) < MaxEvidence || lessView(ts, id, &ev[len(ev)-1]) {
		t.addEvidence(gi, makeRef(ts, id, file, off))
	}
}

// addEvidence is group.addEvidence on record gi.
func (t *table) addEvidence(gi int, e evRef) {
	ev := t.evidence(gi)
	n := len(ev)
	i := sort.Search(n, func(i int) bool { return e.less(&ev[i]) })
	if i > 0 && !ev[i-1].less(&e) {
		return // the same event, seen through another window partial
	}
	if i >= MaxEvidence {
		return
	}
	r := t.recs.at(gi)
	if r.more == 0 && n == 1 {
		k := t.evs.push([MaxEvidence]evRef{})
		r.more = uint32(k + 1)
		t.evs.at(k)[0] = r.ev0[0]
	}
	var buf []evRef
	if r.more == 0 {
		buf = r.ev0[:]
	} else {
		buf = t.evs.at(int(r.more - 1))[:]
	}
	if n < MaxEvidence {
		n++
		r.nev = uint8(n)
	}
	copy(buf[i+1:n], buf[i:n-1])
	buf[i] = e
}

// clone copies s into the arena, once per distinct value; it implements
// cloner for the aggregates in big.
func (t *table) clone(s string) string {
	if s == "" {
		return ""
	}
	return t.ar.str(t.cloneRef(s))
}

func (t *table) cloneRef(s string) sref {
	if s == "" {
		return sref{}
	}
	// Most values are one of a few (codes, verbs, the same user agent
	// again): a compare spares the map's hash.
	c := &t.recent[slotOf(s)%uint32(len(t.recent))]
	if c.v == s {
		return c.r
	}
	if len(s) > maxInternLen {
		r := t.ar.add(s)
		*c = recentValue{v: t.ar.str(r), r: r}
		return r
	}
	r, slot, h, ok := t.dedup.lookup(&t.ar, s)
	if !ok {
		r = t.ar.add(s)
		if t.dedup.len() < maxInterned {
			t.dedup.insert(slot, h, r)
		}
	}
	*c = recentValue{v: t.ar.str(r), r: r}
	return r
}

// recentValue is a value cloneRef gave lately.
type recentValue struct {
	v string
	r sref
}

func setKind(k rules.AggKind) bool { return k == rules.AggDistinct || k == rules.AggValues }

// state returns record gi's aggregate a as an aggState in big, moving it
// there if it is not yet.
func (t *table) state(gi, a int) *aggState {
	ca := t.aggs.at(gi*t.naggs + a)
	if ca.big == 0 {
		var st aggState
		if ca.has {
			v := t.ar.str(ca.one)
			st = aggState{has: true, small: []string{v}}
			if ca.lastIsOne {
				st.lastVal = v
			}
		}
		ca.big = uint32(t.big.push(st) + 1)
	}
	return t.big.at(int(ca.big - 1))
}

// addString is aggState.addEventString on record gi's aggregate a.
func (t *table) addString(gi, a int, kind rules.AggKind, x string, ts int64, id string) {
	ca := t.aggs.at(gi*t.naggs + a)
	if ca.big == 0 && setKind(kind) {
		if !ca.has {
			ca.one, ca.has, ca.lastIsOne = t.cloneRef(x), true, true
			return
		}
		one := t.ar.str(ca.one)
		last := ""
		if ca.lastIsOne {
			last = one
		}
		if x == last || x == one {
			return
		}
	}
	t.state(gi, a).addEventString(kind, x, ts, id, t)
}

// addValue is aggState.addEventValue on record gi's aggregate a.
func (t *table) addValue(gi, a int, kind rules.AggKind, v any, ts int64, id string) {
	if setKind(kind) {
		switch x := v.(type) {
		case string:
			t.addString(gi, a, kind, x, ts, id)
			return
		case nil:
			return
		}
	}
	t.state(gi, a).addEventValue(kind, v, ts, id, t)
}

// aggState returns record gi's aggregate a as an aggState: with its
// strings copied out of the arena when keep is set, else viewing it (and,
// for a single value, the slice one).
func (t *table) aggState(gi, a int, keep bool, one []string) aggState {
	ca := t.aggs.at(gi*t.naggs + a)
	if ca.big != 0 {
		st := *t.big.at(int(ca.big - 1))
		if keep {
			st = st.deepCopy(strings.Clone)
		}
		return st
	}
	if !ca.has {
		return aggState{}
	}
	v := t.ar.str(ca.one)
	if keep {
		v = strings.Clone(v)
		one = []string{v}
	} else {
		one = append(one[:0], v)
	}
	st := aggState{has: true, small: one}
	if ca.lastIsOne {
		st.lastVal = v
	}
	return st
}

// deepCopy copies a's strings with clone, and its first/last state.
func (a aggState) deepCopy(clone func(string) string) aggState {
	out := a
	if a.small != nil {
		out.small = make([]string, len(a.small))
		for i, v := range a.small {
			out.small[i] = clone(v)
		}
	}
	if a.set != nil {
		out.set = make(map[string]struct{}, len(a.set))
		for v := range a.set {
			out.set[clone(v)] = struct{}{}
		}
	}
	out.lastVal = clone(a.lastVal)
	if a.fl != nil {
		fl := *a.fl
		out.fl = &fl
	}
	return out
}

// group makes record gi a group of layout l, its strings copied out of the
// arena: it may outlive the table (a finding).
func (t *table) group(gi int, l *groupLayout) *group {
	g := l.new()
	t.labels(gi, g.labels)
	for k, v := range g.labels {
		g.labels[k] = strings.Clone(v)
	}
	r := t.recs.at(gi)
	g.count, g.first, g.last = r.count, r.first, r.last
	ev := t.evidence(gi)
	if len(ev) <= len(g.ev0) {
		g.evidence = g.ev0[:len(ev)]
	} else {
		g.evidence = make([]evRef, len(ev), MaxEvidence)
	}
	copy(g.evidence, ev)
	for a := range g.aggs {
		g.aggs[a] = t.aggState(gi, a, true, nil)
	}
	return g
}

// scratch is a group to judge records on without copying them: view
// fills it with record gi (labels and values viewing the arena, no
// evidence), valid until the next view.
type scratch struct {
	g    *group
	ones [][]string
}

func newScratch(l *groupLayout) *scratch {
	return &scratch{g: l.new(), ones: make([][]string, l.naggs)}
}

func (t *table) view(gi int, s *scratch) *group {
	g := s.g
	t.labels(gi, g.labels)
	r := t.recs.at(gi)
	g.count, g.first, g.last = r.count, r.first, r.last
	g.evidence = g.ev0[:0]
	for a := range g.aggs {
		g.aggs[a] = t.aggState(gi, a, false, s.ones[a])
		if st := &g.aggs[a]; st.small != nil && t.aggs.at(gi*t.naggs+a).big == 0 {
			s.ones[a] = st.small
		}
	}
	return g
}

// sortedKeys returns the keys of the records of at least minCount events,
// sorted, with the records' indexes.
func (t *table) sortedKeys(minCount int64) ([]string, []int) {
	var keys []string
	var idx []int
	for gi := range t.recs.n {
		if t.recs.at(gi).count >= minCount {
			k, _ := t.keyOf(gi)
			keys = append(keys, k)
			idx = append(idx, gi)
		}
	}
	sort.Sort(byKey{keys, idx})
	return keys, idx
}

// mergeFrom adds o's groups into t (group.merge for those in both) and
// returns how many of o's groups were already in t.
func (t *table) mergeFrom(o *table, aggs []rules.Agg) int {
	both := 0
	for gi := range o.recs.n {
		key, _ := o.keyOf(gi)
		r := o.recs.at(gi)
		if dj, ok := t.find(key, r.hash); ok {
			both++
			t.mergeRec(dj, o, gi, aggs)
			continue
		}
		t.copyRec(o, gi)
	}
	return both
}

// copyRec inserts o's record gi, which t does not have.
func (t *table) copyRec(o *table, gi int) int {
	key, lens := o.keyOf(gi)
	r := o.recs.at(gi)
	dj := t.insert(key, r.hash, func(k int) int { return int(binary.LittleEndian.Uint32(lens[4*k:])) })
	d := t.recs.at(dj)
	d.count, d.first, d.last = r.count, r.first, r.last
	for _, e := range o.evidence(gi) {
		t.addEvidence(dj, e)
	}
	for a := 0; a < t.naggs; a++ {
		ca := *o.aggs.at(gi*o.naggs + a)
		switch {
		case ca.big != 0:
			st := o.big.at(int(ca.big - 1)).deepCopy(t.clone)
			*t.aggs.at(dj*t.naggs + a) = cagg{big: uint32(t.big.push(st) + 1)}
		case ca.has:
			*t.aggs.at(dj*t.naggs + a) = cagg{one: t.cloneRef(o.ar.str(ca.one)), has: true, lastIsOne: ca.lastIsOne}
		}
	}
	return dj
}

// mergeRec is group.merge of o's record gi into t's record dj.
func (t *table) mergeRec(dj int, o *table, gi int, aggs []rules.Agg) {
	r := o.recs.at(gi)
	if r.count == 0 {
		return
	}
	d := t.recs.at(dj)
	if d.count == 0 {
		d.first, d.last = r.first, r.last
	} else {
		d.first = min(d.first, r.first)
		d.last = max(d.last, r.last)
	}
	d.count += r.count
	for _, e := range o.evidence(gi) {
		t.addEvidence(dj, e)
	}
	for a := 0; a < t.naggs; a++ {
		oa := *o.aggs.at(gi*o.naggs + a)
		if oa.big == 0 && !oa.has {
			continue
		}
		da := t.aggs.at(dj*t.naggs + a)
		if da.big == 0 && !da.has {
			// aggState.merge: a takes o's state.
			if oa.big != 0 {
				k := t.big.push(o.big.at(int(oa.big - 1)).deepCopy(t.clone))
				da = t.aggs.at(dj*t.naggs + a)
				da.big = uint32(k + 1)
			} else {
				*da = cagg{one: t.cloneRef(o.ar.str(oa.one)), has: true, lastIsOne: oa.lastIsOne}
			}
			continue
		}
		kind := aggs[a].Kind
		if setKind(kind) && oa.big == 0 && da.big == 0 && o.ar.str(oa.one) == t.ar.str(da.one) {
			continue // the same single value
		}
		os := o.aggState(gi, a, false, nil)
		if !setKind(kind) {
			t.state(dj, a).merge(&os, kind)
			continue
		}
		// aggState.merge of sets: add o's values (copied into t).
		st := t.state(dj, a)
		for _, v := range os.small {
			st.addValue(t.clone(v))
		}
		for v := range os.set {
			st.addValue(t.clone(v))
		}
		st.overflow = st.overflow || os.overflow
	}
}

// filter keeps the records keep says yes to and returns how many it
// dropped.
func (t *table) filter(keep func(r *grec) bool) (*table, int) {
	n := newTable(t.nlabels, t.naggs)
	dropped := 0
	for gi := range t.recs.n {
		if !keep(t.recs.at(gi)) {
			dropped++
			continue
		}
		n.copyRec(t, gi)
	}
	return n, dropped
}

// put sets key's record to group g (a group restored from a snapshot).
func (t *table) put(key string, g *group) {
	h := hashKey(key)
	gi, ok := t.find(key, h)
	if !ok {
		gi = t.insert(key, h, func(k int) int { return len(g.labels[k]) })
	}
	r := t.recs.at(gi)
	*r = grec{key: r.key, hash: r.hash, count: g.count, first: g.first, last: g.last}
	for _, e := range g.evidence {
		t.addEvidence(gi, e)
	}
	for a := range g.aggs {
		st := g.aggs[a]
		if !st.has && st.small == nil && st.set == nil && st.lastVal == "" && st.fl == nil && st.num == 0 && st.n == 0 && !st.overflow {
			*t.aggs.at(gi*t.naggs + a) = cagg{}
			continue
		}
		k := t.big.push(st.deepCopy(t.clone))
		*t.aggs.at(gi*t.naggs + a) = cagg{big: uint32(k + 1)}
	}
}

// paged is a slice that grows by pages: nothing is copied once the first
// page is full, and growing never holds twice the memory.
type paged[T any] struct {
	pages [][]T
	n     int
	// pool, when set, gives and takes full pages (release).
	pool *sync.Pool
}

// newPage is an empty full-size page, from the pool if it has one.
func (p *paged[T]) newPage() []T {
	if p.pool != nil {
		if v := p.pool.Get(); v != nil {
			return (*v.(*[]T))[:0]
		}
	}
	return make([]T, 0, 1<<pageBits)
}

// release gives the full pages to the pool and empties p.
func (p *paged[T]) release() {
	if p.pool != nil {
		for _, pg := range p.pages {
			if cap(pg) == 1<<pageBits {
				pg = pg[:0]
				p.pool.Put(&pg)
			}
		}
	}
	p.pages, p.n = nil, 0
}

const pageBits = 9

func (p *paged[T]) at(i int) *T { return &p.pages[i>>pageBits][i&(1<<pageBits-1)] }

// push appends v and returns its index. Pointers from at stay valid
// except into the first page while it grows.
func (p *paged[T]) push(v T) int {
	if len(p.pages) == 0 {
		p.pages = append(p.pages, make([]T, 0, 4))
	}
	last := len(p.pages) - 1
	pg := p.pages[last]
	if len(pg) == cap(pg) {
		if cap(pg) < 1<<pageBits {
			grown := make([]T, len(pg), min(2*cap(pg), 1<<pageBits))
			copy(grown, pg)
			pg = grown
		} else {
			p.pages = append(p.pages, p.newPage())
			last++
			pg = p.pages[last]
		}
	}
	p.pages[last] = append(pg, v)
	p.n++
	return p.n - 1
}
