package sources

import "hash/maphash"

// uuidTable maps UUIDs to times: open addressing with linear probing, and
// deletion by backward shift, which leaves no tombstones. A log's churn
// of long-running requests (every watch added, then deleted when it ends)
// keeps it the size of what is open; a Go map under the same churn grows
// to twice that and stays there (~120 bytes an entry against 24 here, at
// 75% load at most). The IDs are spread over 256 segments that grow and
// shrink on their own, so that growing never holds two copies of it all.
type uuidTable struct {
	segs [256]uuidSeg
	n    int
	// The zero UUID marks a free slot; an ID that is all zeroes is kept
	// here.
	zero   bool
	zeroAt int64
}

type uuidSeg struct {
	slots []uuidSlot
	n     int
}

type uuidSlot struct {
	k [16]byte
	t int64
}

// uuidSeed hashes the IDs: clients choose their own Audit-IDs, so the
// layout of the table must not be theirs to choose.
var uuidSeed = maphash.MakeSeed()

const minSegSlots = 16

func (u *uuidTable) len() int {
	if u.zero {
		return u.n + 1
	}
	return u.n
}

func uuidHash(k *[16]byte) uint64 { return maphash.Comparable(uuidSeed, *k) }

// seg is k's segment; the hash's top byte chooses it, its low bits the
// home slot.
func (u *uuidTable) seg(h uint64) *uuidSeg { return &u.segs[h>>56] }

// find returns k's slot, or the free slot where it would go.
func (s *uuidSeg) find(k *[16]byte, h uint64) (int, bool) {
	mask := len(s.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.k == *k {
			return i, true
		}
		if sl.k == ([16]byte{}) {
			return i, false
		}
	}
}

func (u *uuidTable) get(k [16]byte) (int64, bool) {
	if k == ([16]byte{}) {
		return u.zeroAt, u.zero
	}
	h := uuidHash(&k)
	s := u.seg(h)
	if s.n == 0 {
		return 0, false
	}
	i, ok := s.find(&k, h)
	return s.slots[i].t, ok
}

func (u *uuidTable) put(k [16]byte, t int64) {
	if k == ([16]byte{}) {
		u.zero, u.zeroAt = true, t
		return
	}
	h := uuidHash(&k)
	s := u.seg(h)
	if (s.n+1)*4 > len(s.slots)*3 {
		s.resize(max(minSegSlots, 2*len(s.slots)))
	}
	i, ok := s.find(&k, h)
	if !ok {
		s.n++
		u.n++
	}
	s.slots[i] = uuidSlot{k: k, t: t}
}

func (u *uuidTable) del(k [16]byte) {
	if k == ([16]byte{}) {
		u.zero = false
		return
	}
	h := uuidHash(&k)
	s := u.seg(h)
	if s.n == 0 {
		return
	}
	i, ok := s.find(&k, h)
	if !ok {
		return
	}
	// Backward shift: move up each later entry of the run whose home
	// does not lie cyclically in (i, j], so that every entry stays
	// reachable from its home without a tombstone.
	mask := len(s.slots) - 1
	for j := (i + 1) & mask; s.slots[j].k != ([16]byte{}); j = (j + 1) & mask {
		hj := int(uuidHash(&s.slots[j].k)) & mask
		if i <= j && (hj <= i || hj > j) || i > j && hj <= i && hj > j {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = uuidSlot{}
	s.n--
	u.n--
	if len(s.slots) > minSegSlots && s.n*8 < len(s.slots) {
		s.resize(len(s.slots) / 2)
	}
}

func (s *uuidSeg) resize(n int) {
	old := s.slots
	s.slots = make([]uuidSlot, n)
	for i := range old {
		if sl := &old[i]; sl.k != ([16]byte{}) {
			j, _ := s.find(&sl.k, uuidHash(&sl.k))
			s.slots[j] = *sl
		}
	}
}

// each calls fn for every entry, in no order; fn must not change u.
func (u *uuidTable) each(fn func(k [16]byte, t int64)) {
	if u.zero {
		fn([16]byte{}, u.zeroAt)
	}
	for si := range u.segs {
		s := &u.segs[si]
		for i := range s.slots {
			if sl := &s.slots[i]; sl.k != ([16]byte{}) {
				fn(sl.k, sl.t)
			}
		}
	}
}

// deleteBefore drops the entries of times before limit. It allocates
// only for what it drops: it runs every minute of log time, and usually
// drops nothing.
func (u *uuidTable) deleteBefore(limit int64) {
	if u.zero && u.zeroAt < limit {
		u.zero = false
	}
	var old [][16]byte
	u.each(func(k [16]byte, t int64) {
		if t < limit && k != ([16]byte{}) {
			old = append(old, k)
		}
	})
	for _, k := range old {
		u.del(k)
	}
}
