package detectors

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestStrSet: the set against a map through growth, with values of the
// same hash slot and empty ones.
func TestStrSet(t *testing.T) {
	var ar arena
	var d strSet
	want := map[string]sref{}
	r := rand.New(rand.NewPCG(2, 9))
	for i := range 20000 {
		s := fmt.Sprintf("system:serviceaccount:ns-%d:sa-%d", r.IntN(300), r.IntN(30))
		if i%97 == 0 {
			s = fmt.Sprint(i) // short values
		}
		got, slot, h, ok := d.lookup(&ar, s)
		w, wok := want[s]
		if ok != wok || ok && got != w {
			t.Fatalf("step %d: lookup(%q) = %v %v, the map %v %v", i, s, got, ok, w, wok)
		}
		if !ok {
			ref := ar.add(s)
			d.insert(slot, h, ref)
			want[s] = ref
		}
		if d.len() != len(want) {
			t.Fatalf("step %d: %d values, the map %d", i, d.len(), len(want))
		}
	}
	if 2*d.len() > len(d.slots) {
		t.Errorf("%d values in %d slots", d.len(), len(d.slots))
	}
	for s, w := range want {
		if got, _, _, ok := d.lookup(&ar, s); !ok || got != w || ar.str(got) != s {
			t.Errorf("lookup(%q) = %v %v, want %v", s, got, ok, w)
		}
	}
	d.release()
	if _, slot, _, ok := d.lookup(&ar, "x"); ok || slot != -1 {
		t.Errorf("a released set finds %v, slot %d", ok, slot)
	}
}
