package sources

import "hash/maphash"

// uuidTable maps UUIDs to times: open addressing with linear probing, and
// deletion by backward shift, which leaves no tombstones. A log's churn
// of long-running requests (every watch added, then deleted when it ends)
// keeps it the size of what is open; a Go map under the same churn grows
// to twice that and stays there (~120 bytes an entry against 24 here,
// at 75% load at most).
type uuidTable struct {
	slots []uuidSlot
	n     int
	// The zero UUID marks a free slot; an ID that is all zeroes is kept
	// here.
	zero   bool
	zeroAt int64
}

type uuidSlot struct {
	k [16]byte
	t int64
}

// uuidSeed hashes the IDs: clients choose their own Audit-IDs, so the
// layout of the table must not be theirs to choose.
var uuidSeed = maphash.MakeSeed()

const minUUIDSlots = 64

func (u *uuidTable) len() int {
	if u.zero {
		return u.n + 1
	}
	return u.n
}

func (u *uuidTable) home(k *[16]byte) int {
	return int(maphash.Comparable(uuidSeed, *k)) & (len(u.slots) - 1)
}

// find returns k's slot, or the free slot where it would go.
func (u *uuidTable) find(k *[16]byte) (int, bool) {
	mask := len(u.slots) - 1
	for i := u.home(k); ; i = (i + 1) & mask {
		s := &u.slots[i]
		if s.k == *k {
			return i, true
		}
		if s.k == ([16]byte{}) {
			return i, false
		}
	}
}

func (u *uuidTable) get(k [16]byte) (int64, bool) {
	if k == ([16]byte{}) {
		return u.zeroAt, u.zero
	}
	if u.n == 0 {
		return 0, false
	}
	i, ok := u.find(&k)
	return u.slots[i].t, ok
}

func (u *uuidTable) put(k [16]byte, t int64) {
	if k == ([16]byte{}) {
		u.zero, u.zeroAt = true, t
		return
	}
	if (u.n+1)*4 > len(u.slots)*3 {
		u.resize(max(minUUIDSlots, 2*len(u.slots)))
	}
	i, ok := u.find(&k)
	if !ok {
		u.n++
	}
	u.slots[i] = uuidSlot{k: k, t: t}
}

func (u *uuidTable) del(k [16]byte) {
	if k == ([16]byte{}) {
		u.zero = false
		return
	}
	if u.n == 0 {
		return
	}
	i, ok := u.find(&k)
	if !ok {
		return
	}
	// Backward shift: move up each later entry of the run whose home
	// does not lie cyclically in (i, j], so that every entry stays
	// reachable from its home without a tombstone.
	mask := len(u.slots) - 1
	for j := (i + 1) & mask; u.slots[j].k != ([16]byte{}); j = (j + 1) & mask {
		h := u.home(&u.slots[j].k)
		if i <= j && (h <= i || h > j) || i > j && h <= i && h > j {
			u.slots[i] = u.slots[j]
			i = j
		}
	}
	u.slots[i] = uuidSlot{}
	u.n--
	if len(u.slots) > minUUIDSlots && u.n*8 < len(u.slots) {
		u.resize(len(u.slots) / 2)
	}
}

func (u *uuidTable) resize(n int) {
	old := u.slots
	u.slots = make([]uuidSlot, n)
	for i := range old {
		if s := &old[i]; s.k != ([16]byte{}) {
			j, _ := u.find(&s.k)
			u.slots[j] = *s
		}
	}
}

// each calls fn for every entry, in no order; fn must not change u.
func (u *uuidTable) each(fn func(k [16]byte, t int64)) {
	if u.zero {
		fn([16]byte{}, u.zeroAt)
	}
	for i := range u.slots {
		if s := &u.slots[i]; s.k != ([16]byte{}) {
			fn(s.k, s.t)
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
	for i := range u.slots {
		if s := &u.slots[i]; s.k != ([16]byte{}) && s.t < limit {
			old = append(old, s.k)
		}
	}
	for _, k := range old {
		u.del(k)
	}
}
