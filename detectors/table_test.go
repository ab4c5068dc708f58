package detectors

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/rules"
)

// tableOp is one event added to a group: its key, time, auditID and one
// value per aggregate.
type tableOp struct {
	key  []string
	t    int64
	id   string
	vals []any
}

// refState is what a group holds, in comparable form.
type refState struct {
	Labels      []string
	Count       int64
	First, Last int64
	Evidence    []evRef
	Aggs        []refAgg
}

type refAgg struct {
	Values        []string
	LastVal       string
	Has, Overflow bool
	Num           float64
	N             int64
	At            evRef
	Val           any
}

func stateOf(g *group) refState {
	s := refState{Labels: g.labels, Count: g.count, First: g.first, Last: g.last, Evidence: append([]evRef{}, g.evidence...)}
	for _, a := range g.aggs {
		ra := refAgg{LastVal: a.lastVal, Has: a.has, Overflow: a.overflow, Num: a.num, N: a.n}
		ra.Values = append(ra.Values, a.small...)
		for v := range a.set {
			ra.Values = append(ra.Values, v)
		}
		sort.Strings(ra.Values)
		if a.fl != nil {
			ra.At, ra.Val = a.fl.at, a.fl.val
		}
		s.Aggs = append(s.Aggs, ra)
	}
	return s
}

// TestTableIsGroup: a table's records, fed and merged, hold what groups
// (state.go, the reference) fed and merged the same way hold, for every
// kind of aggregate and value: one value, many, past maxDistinct, lists,
// numbers, first/last, empty strings.
func TestTableIsGroup(t *testing.T) {
	kinds := []rules.AggKind{rules.AggDistinct, rules.AggValues, rules.AggFirst, rules.AggLast, rules.AggMin, rules.AggMax, rules.AggSum, rules.AggAvg}
	aggs := make([]rules.Agg, len(kinds))
	for i, k := range kinds {
		aggs[i] = rules.Agg{Kind: k, Shares: -1}
	}
	value := func(r *rand.Rand, kind rules.AggKind, spread int) any {
		switch kind {
		case rules.AggDistinct, rules.AggValues:
			switch r.IntN(10) {
			case 0:
				return nil
			case 1:
				return []string{fmt.Sprint("l", r.IntN(spread)), ""}
			case 2:
				return []any{r.IntN(spread), "x"}
			case 3:
				return r.IntN(spread)
			case 4:
				return ""
			}
			return fmt.Sprint("v", r.IntN(spread))
		case rules.AggFirst, rules.AggLast:
			if r.IntN(3) == 0 {
				return fmt.Sprint("s", r.IntN(spread))
			}
			return r.IntN(spread)
		}
		if r.IntN(5) == 0 {
			return "not a number"
		}
		return float64(r.IntN(spread))
	}
	for _, tc := range []struct {
		name                 string
		keys, spread, events int
		parts                int
	}{
		{"one value per group", 50, 1, 400, 1},
		{"few values", 20, 3, 500, 2},
		{"many values", 5, 3000, 6000, 3},
		{"one-event groups", 400, 5, 400, 2},
		{"one group", 1, 10, 300, 4},
		{"past maxDistinct", 2, 50000, 12000, 2},
		{"pages reused", 3000, 4, 9000, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.keys), uint64(tc.events)))
			ops := make([]tableOp, tc.events)
			for i := range ops {
				k := r.IntN(tc.keys)
				op := tableOp{key: []string{fmt.Sprint("k", k%7), fmt.Sprint("n\x00", k)}, t: int64(r.IntN(1000)), id: fmt.Sprintf("id-%04d", r.IntN(tc.events))}
				if k == 0 {
					op.key = []string{"", ""}
				}
				for _, kind := range kinds {
					op.vals = append(op.vals, value(r, kind, tc.spread))
				}
				ops[i] = op
			}
			layout := newGroupLayout(2, len(aggs))
			// The reference: one group per key, fed each part in turn and
			// merged, as sinks and the engine do.
			refParts := make([]map[string]*group, tc.parts)
			tabParts := make([]*table, tc.parts)
			var strs interner
			for p := range refParts {
				refParts[p] = map[string]*group{}
				tabParts[p] = newTable(2, len(aggs))
			}
			for i, op := range ops {
				p := i % tc.parts
				key := strings.Join(op.key, "\x00")
				g, ok := refParts[p][key]
				if !ok {
					g = layout.new()
					copy(g.labels, op.key)
					refParts[p][key] = g
				}
				g.see(op.t, op.id, 1, int64(i))
				tab := tabParts[p]
				h := hashKey(key)
				gi, ok := tab.find(key, h)
				if !ok {
					gi = tab.insert(key, h, func(k int) int { return len(op.key[k]) })
				}
				tab.see(gi, op.t, op.id, 1, int64(i))
				for a, kind := range kinds {
					if s, isStr := op.vals[a].(string); isStr && i%2 == 0 {
						g.aggs[a].addEventString(kind, s, op.t, op.id, &strs)
						tab.addString(gi, a, kind, s, op.t, op.id)
						continue
					}
					g.aggs[a].addEventValue(kind, op.vals[a], op.t, op.id, &strs)
					tab.addValue(gi, a, kind, op.vals[a], op.t, op.id)
				}
			}
			ref, tab := refParts[0], tabParts[0]
			for p := 1; p < tc.parts; p++ {
				for k, g := range refParts[p] {
					if mg, ok := ref[k]; ok {
						mg.merge(g, aggs)
						continue
					}
					ref[k] = g
				}
				tab.mergeFrom(tabParts[p], aggs)
				tabParts[p].release() // as mergeWindow does
			}
			// Suspended and restored: put takes a group back, into a
			// table whose pages come from the released ones.
			if tc.parts > 2 {
				restored := newTable(2, len(aggs))
				for gi := range tab.recs.n {
					key, _ := tab.keyOf(gi)
					restored.put(key, tab.group(gi, layout))
				}
				tab.release()
				tab = restored
			}
			if tab.len() != len(ref) {
				t.Fatalf("%d records, want %d groups", tab.len(), len(ref))
			}
			keys, idx := tab.sortedKeys(0)
			for j, gi := range idx {
				want := ref[keys[j]]
				if want == nil {
					t.Fatalf("record %q is no group", keys[j])
				}
				got := tab.group(gi, layout)
				if g, w := stateOf(got), stateOf(want); !reflect.DeepEqual(g, w) {
					t.Fatalf("group %q:\n got %+v\nwant %+v", keys[j], g, w)
				}
				sc := newScratch(layout)
				v := stateOf(tab.view(gi, sc))
				w := stateOf(want)
				w.Evidence = nil
				v.Evidence = nil
				if !reflect.DeepEqual(v, w) {
					t.Fatalf("view of %q:\n got %+v\nwant %+v", keys[j], v, w)
				}
				for a, ag := range aggs {
					if g, w := got.aggs[a].result(ag), want.aggs[a].result(ag); !reflect.DeepEqual(g, w) {
						t.Fatalf("group %q aggregate %d: %v, want %v", keys[j], a, g, w)
					}
				}
			}
			// Groups taken out of a table (to judge and report) owe it
			// nothing once it is released and its pages hold other groups.
			kept := make([]*group, len(idx))
			for j, gi := range idx {
				kept[j] = tab.group(gi, layout)
			}
			tab.release()
			other := newTable(2, len(aggs))
			for i := range 4 * len(idx) {
				key := fmt.Sprint("other\x00", i)
				gi := other.insert(key, hashKey(key), func(k int) int { return []int{5, len(key) - 6}[k] })
				other.see(gi, int64(-i), "a5f0c9e2-0000-4000-8000-00000000000"+fmt.Sprint(i%10), 9, 9)
				for a, kind := range kinds {
					other.addValue(gi, a, kind, fmt.Sprint("x", i), int64(i), "z")
				}
			}
			for j, g := range kept {
				if got, want := stateOf(g), stateOf(ref[keys[j]]); !reflect.DeepEqual(got, want) {
					t.Fatalf("group %q after its table was released:\n got %+v\nwant %+v", keys[j], got, want)
				}
			}
			other.release()
		})
	}
}

// TestArena: values of every size come back as they went in, small ones
// sharing chunks and big ones in their own.
func TestArena(t *testing.T) {
	var a arena
	var refs []sref
	var want []string
	for _, n := range []int{0, 1, 10, arenaChunk / 4, arenaChunk/4 + 1, arenaChunk, 100, arenaChunk - 5, 3} {
		s := strings.Repeat(string(rune('a'+n%26)), n)
		refs = append(refs, a.add(s))
		want = append(want, s)
	}
	for i, r := range refs {
		if got := a.str(r); got != want[i] {
			t.Errorf("value %d: %d bytes, want %d", i, len(got), len(want[i]))
		}
	}
}

// TestPaged: indexes stay put across pages.
func TestPaged(t *testing.T) {
	var p paged[int]
	for i := range 5000 {
		if k := p.push(i * 3); k != i {
			t.Fatalf("push %d returned %d", i, k)
		}
	}
	for i := range 5000 {
		if v := *p.at(i); v != i*3 {
			t.Fatalf("at(%d) = %d", i, v)
		}
	}
}

// The reference the table is checked against: a group fed and merged as
// one object (the table's records do the same, pointer-free).

// see records an event's time and id on the group.
func (g *group) see(t int64, id string, file uint32, off int64) {
	g.count++
	if g.count == 1 {
		g.first, g.last = t, t
	} else {
		g.first = min(g.first, t)
		g.last = max(g.last, t)
	}
	if len(g.evidence) < MaxEvidence || lessView(t, id, &g.evidence[len(g.evidence)-1]) {
		g.addEvidence(makeRef(t, id, file, off))
	}
}

// merge adds o into g; the result does not depend on the order of merges.
func (g *group) merge(o *group, aggs []rules.Agg) {
	if o.count == 0 {
		return
	}
	if g.count == 0 {
		g.first, g.last = o.first, o.last
	} else {
		g.first = min(g.first, o.first)
		g.last = max(g.last, o.last)
	}
	g.count += o.count
	for _, r := range o.events() {
		g.addEvidence(r)
	}
	for i := range g.aggs {
		g.aggs[i].merge(&o.aggs[i], aggs[i].Kind)
	}
}
