package detectors

import "math/bits"

// ip4Table is a sink's identityAt index of IPv4 addresses: open
// addressing with linear probing over entries of 16 bytes, nothing in them
// for the collector to follow. Every event with a user looks its address
// up here, so a lookup is one multiply and, mostly, one slot; a Go map
// costs a hash, a control-word match and a second fetch for the value.
type ip4Table struct {
	ents  []ip4Ent
	n     int
	shift uint8
}

// ip4Ent is one address's last identity. user is the userTable's number
// plus one: zero marks an empty slot.
type ip4Ent struct {
	t    int64
	a    uint32
	user uint32
}

// minIP4Slots is a new table's size (a power of two): 256 KB, room for
// 8,192 addresses before the first of a few rehashes (each moves every
// entry, a cache miss apiece).
const minIP4Slots = 1 << 14

func (m *ip4Table) len() int { return m.n }

// slot is a's home slot: Fibonacci hashing, the product's top bits.
func (m *ip4Table) slot(a uint32) int { return int((a * 0x9E3779B1) >> m.shift) }

// find returns a's entry, or nil and a's empty slot.
func (m *ip4Table) find(a uint32) (*ip4Ent, int) {
	if m.ents == nil {
		m.init(minIP4Slots)
	}
	mask := len(m.ents) - 1
	for i := m.slot(a); ; i = (i + 1) & mask {
		e := &m.ents[i]
		if e.user == 0 {
			return nil, i
		}
		if e.a == a {
			return e, i
		}
	}
}

// get returns a's entry, or nil.
func (m *ip4Table) get(a uint32) *ip4Ent {
	if m.ents == nil {
		return nil
	}
	v, _ := m.find(a)
	return v
}

// insert stores a new address at the empty slot find returned.
func (m *ip4Table) insert(slot int, a uint32, t int64, user uint32) {
	m.ents[slot] = ip4Ent{t: t, a: a, user: user + 1}
	m.n++
	// At half full, twice the room: probes stay short.
	if 2*m.n > len(m.ents) {
		m.rehash(2 * len(m.ents))
	}
}

func (m *ip4Table) init(slots int) {
	m.ents = make([]ip4Ent, slots)
	m.n = 0
	m.shift = uint8(32 - bits.TrailingZeros(uint(slots)))
}

func (m *ip4Table) rehash(slots int) {
	old := m.ents
	m.init(slots)
	mask := slots - 1
	for _, e := range old {
		if e.user == 0 {
			continue
		}
		i := m.slot(e.a)
		for m.ents[i].user != 0 {
			i = (i + 1) & mask
		}
		m.ents[i] = e
		m.n++
	}
}

// each calls fn with every entry's address, time and user number.
func (m *ip4Table) each(fn func(a uint32, t int64, user uint32)) {
	for _, e := range m.ents {
		if e.user != 0 {
			fn(e.a, e.t, e.user-1)
		}
	}
}

// renumber implements userHolder.
func (m *ip4Table) renumber(f func(user uint32) uint32) {
	for i := range m.ents {
		if e := &m.ents[i]; e.user != 0 {
			e.user = f(e.user-1) + 1
		}
	}
}

// reset empties the table, keeping its room.
func (m *ip4Table) reset() {
	clear(m.ents)
	m.n = 0
}

// userHolder is what holds a userTable's numbers, for compact to
// renumber.
type userHolder interface {
	renumber(f func(user uint32) uint32)
}

// ip4Map is the engine's index of IPv4 addresses, what the sinks hand
// over.
type ip4Map map[uint32]ip4Seen

// renumber implements userHolder.
func (m ip4Map) renumber(f func(user uint32) uint32) {
	for a, v := range m {
		v.user = f(v.user)
		m[a] = v
	}
}
