package detectors

// strSet is a table's index of the values its arena holds once (the
// aggregates' users, user agents, verbs), by their hashes (slotIndex):
// nothing in it for the collector to follow, and a probe reads no string
// but one whose hash matches.
type strSet struct {
	slots slotIndex
	vals  []hashedRef
}

type hashedRef struct {
	r sref
	h uint32
}

func (d *strSet) len() int { return len(d.vals) }

// lookup finds s; else it returns the free slot for it (-1 when the set
// is empty) and its hash, for insert.
func (d *strSet) lookup(ar *arena, s string) (r sref, slot int, h uint32, ok bool) {
	h = hashKey(s)
	if d.slots == nil {
		return sref{}, -1, h, false
	}
	mask := len(d.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		v := d.slots[i]
		if v == 0 {
			return sref{}, i, h, false
		}
		if uint32(v>>32) == h {
			if r := d.vals[uint32(v)-1].r; ar.str(r) == s {
				return r, i, h, true
			}
		}
	}
}

// insert adds r, of hash h, at the slot lookup returned for it.
func (d *strSet) insert(slot int, h uint32, r sref) {
	d.vals = append(d.vals, hashedRef{r: r, h: h})
	if 2*len(d.vals) > len(d.slots) {
		// Half full (or nothing yet): twice the room.
		d.slots.rebuild(64, len(d.vals), func(k int) uint32 { return d.vals[k].h })
		return
	}
	d.slots[slot] = uint64(h)<<32 | uint64(len(d.vals))
}

// release gives the slots back for other tables.
func (d *strSet) release() {
	d.slots.release()
	d.vals = nil
}
