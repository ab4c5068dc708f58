package sources

import (
	"math/rand/v2"
	"testing"
)

// TestUUIDTable: a uuidTable holds what a Go map holds through any mix
// of puts, deletes and expiries, the all-zero ID included, and its size
// follows what it holds (no tombstones: deleting shrinks it back).
func TestUUIDTable(t *testing.T) {
	for _, tc := range []struct {
		name       string
		keys, ops  int
		sequential bool // IDs that differ in their last bytes only
	}{
		{"few", 10, 2000, false},
		{"many", 5000, 60000, false},
		{"sequential", 3000, 40000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.keys), 9))
			key := func() [16]byte {
				var k [16]byte
				n := r.IntN(tc.keys)
				if n == 0 {
					return k // the zero ID
				}
				if tc.sequential {
					k[14], k[15] = byte(n>>8), byte(n)
					return k
				}
				rr := rand.New(rand.NewPCG(uint64(n), 1))
				for i := range k {
					k[i] = byte(rr.Uint32())
				}
				return k
			}
			var u uuidTable
			ref := map[[16]byte]int64{}
			peak := 0
			for i := range tc.ops {
				k := key()
				switch op := r.IntN(10); {
				case op < 5:
					u.put(k, int64(i))
					ref[k] = int64(i)
				case op < 9:
					u.del(k)
					delete(ref, k)
				default:
					if r.IntN(50) == 0 {
						limit := int64(i - r.IntN(tc.ops/4+1))
						u.deleteBefore(limit)
						for k, v := range ref {
							if v < limit {
								delete(ref, k)
							}
						}
					}
				}
				if got, want := u.len(), len(ref); got != want {
					t.Fatalf("op %d: len %d, want %d", i, got, want)
				}
				peak = max(peak, len(ref))
				if i%997 == 0 {
					for k, want := range ref {
						if got, ok := u.get(k); !ok || got != want {
							t.Fatalf("op %d: get(%x) = %d, %v; want %d", i, k, got, ok, want)
						}
					}
				}
			}
			seen := 0
			u.each(func(k [16]byte, v int64) {
				seen++
				if want, ok := ref[k]; !ok || want != v {
					t.Errorf("each gives %x = %d; the map has %d, %v", k, v, want, ok)
				}
			})
			if seen != len(ref) {
				t.Errorf("each gave %d entries, want %d", seen, len(ref))
			}
			// Empty it: the table shrinks back to its least size.
			for k := range ref {
				u.del(k)
			}
			if u.len() != 0 || u.slotCount() > 256*minSegSlots {
				t.Errorf("emptied: len %d, %d slots (peak %d entries)", u.len(), u.slotCount(), peak)
			}
		})
	}
}

// TestUUIDTableChurn: under a steady churn (every entry added, then
// deleted), the table stays the size of what it holds.
func TestUUIDTableChurn(t *testing.T) {
	var u uuidTable
	const live = 5000
	ring := make([][16]byte, live)
	r := rand.New(rand.NewPCG(5, 6))
	maxSlots := 0
	for i := range 200 * live {
		var k [16]byte
		for j := range k {
			k[j] = byte(r.Uint32())
		}
		if i >= live {
			u.del(ring[i%live])
		}
		u.put(k, int64(i))
		ring[i%live] = k
		if i > live {
			maxSlots = max(maxSlots, u.slotCount())
		}
	}
	if u.len() != live || maxSlots > 4*live {
		t.Errorf("%d entries in up to %d slots; want %d in at most %d", u.len(), maxSlots, live, 4*live)
	}
}

// TestUUIDTableExpireNothing: the minutely expiry that drops nothing
// allocates nothing (it runs on every minute of a long log).
func TestUUIDTableExpireNothing(t *testing.T) {
	var u uuidTable
	for i := range 10000 {
		u.put([16]byte{byte(i), byte(i >> 8), 1}, int64(i))
	}
	if n := testing.AllocsPerRun(10, func() { u.deleteBefore(0) }); n != 0 {
		t.Errorf("deleteBefore that drops nothing: %v allocations", n)
	}
	u.deleteBefore(5000)
	if u.len() != 5000 {
		t.Errorf("after deleteBefore(5000): %d entries, want 5000", u.len())
	}
}

func (u *uuidTable) slotCount() int {
	n := 0
	for i := range u.segs {
		n += len(u.segs[i].slots)
	}
	return n
}
