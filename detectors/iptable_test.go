package detectors

import (
	"math/rand/v2"
	"testing"
)

// TestIP4Table: the table against a map through growth, renumbering and
// reset, with addresses that share home slots (the same low or high bits)
// and address 0.
func TestIP4Table(t *testing.T) {
	for _, tc := range []struct {
		name  string
		addrs func(r *rand.Rand) uint32
	}{
		{"random", func(r *rand.Rand) uint32 { return r.Uint32() }},
		{"one /16", func(r *rand.Rand) uint32 { return 10<<24 | uint32(r.IntN(1<<16)) }},
		{"high bits only", func(r *rand.Rand) uint32 { return uint32(r.IntN(4096)) << 20 }},
		{"few, with zero", func(r *rand.Rand) uint32 { return uint32(r.IntN(40)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 11))
			var m ip4Table
			want := map[uint32]ip4Seen{}
			if m.get(0) != nil {
				t.Fatal("an empty table has address 0")
			}
			for step := range 60000 {
				a := tc.addrs(r)
				switch {
				case step == 30000:
					m.reset()
					clear(want)
				case step%7919 == 0:
					// Renumber every user (as userTable.compact does).
					m.renumber(func(u uint32) uint32 { return u + 3 })
					for k, v := range want {
						v.user += 3
						want[k] = v
					}
				}
				v, slot := m.find(a)
				w, ok := want[a]
				if (v != nil) != ok {
					t.Fatalf("step %d: find(%d) found %v, the map %v", step, a, v != nil, ok)
				}
				ts, user := int64(step), uint32(r.IntN(100))
				if v == nil {
					m.insert(slot, a, ts, user)
				} else {
					if v.t != w.t || v.user-1 != w.user {
						t.Fatalf("step %d: entry of %d is (%d, %d), the map's (%d, %d)", step, a, v.t, v.user-1, w.t, w.user)
					}
					v.t, v.user = ts, user+1
				}
				want[a] = ip4Seen{t: ts, user: user}
				if m.len() != len(want) {
					t.Fatalf("step %d: %d entries, the map %d", step, m.len(), len(want))
				}
			}
			if 2*m.len() > len(m.ents) {
				t.Errorf("%d entries in %d slots: more than half full", m.len(), len(m.ents))
			}
			n := 0
			m.each(func(a uint32, ts int64, user uint32) {
				n++
				if w := want[a]; w.t != ts || w.user != user {
					t.Errorf("each: %d is (%d, %d), the map's (%d, %d)", a, ts, user, w.t, w.user)
				}
			})
			if n != len(want) {
				t.Errorf("each saw %d entries, the map has %d", n, len(want))
			}
		})
	}
}
