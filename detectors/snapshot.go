package detectors

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-audit/kubectl-audit/rules"
)

// A scheduled run reads only what is new since the last one, so a window
// may start in one run's input and end in the next one's. Suspend ends a
// run without evaluating such windows and returns them, with what each
// group has counted, as a Snapshot; Restore hands them to the next run's
// engine, which finishes them with the new events. The findings of a
// chain of runs are those of one run over the whole input (same counts,
// evidence, values and fingerprints), as long as the runs' inputs follow
// each other in time.
//
// Whole-input rules have no window to end: in a chain of runs their groups
// accumulate from the first run on and are evaluated at the end of each
// run (a group fires in the run its condition first holds, and stays
// firing). A group that sees no event for WholeRetention of log time is
// dropped.

// WholeRetention is how long (in log time) a whole-input rule's group is
// kept across runs after its last event.
const WholeRetention = 24 * time.Hour

// SnapshotVersion is the format of Snapshot; a snapshot of another version
// is not restored.
const SnapshotVersion = 1

// Snapshot is what a suspended run leaves open: per rule, its windows not
// yet evaluated (and, for whole-input rules, every group).
type Snapshot struct {
	Version int `json:"version"`
	// ClosedThrough is the horizon of the run: every window that ended by
	// then has been evaluated; later ones are in Rules.
	ClosedThrough time.Time `json:"closedThrough"`
	// Span is the earliest and latest event time (Unix ns) seen so far,
	// for whole-input rules' rates.
	Span [2]int64 `json:"span"`
	// Files are the input names evidence points into (1-based).
	Files []string    `json:"files,omitempty"`
	Rules []RuleState `json:"rules,omitempty"`
}

// RuleState is one rule's open windows.
type RuleState struct {
	Rule string `json:"rule"`
	// Digest identifies what the groups were counted by (match, group_by,
	// window, when, values): a rule changed since is not restored.
	Digest string `json:"digest"`
	// ClosedUpTo is the end of the latest window evaluated (Unix ns):
	// events of earlier windows that come later are late.
	ClosedUpTo int64         `json:"closedUpTo"`
	Windows    []WindowState `json:"windows,omitempty"`
}

// WindowState is one open window (start == end == 0 for whole-input rules).
type WindowState struct {
	Start  int64        `json:"start"`
	End    int64        `json:"end"`
	Events int64        `json:"events"`
	Groups []GroupState `json:"groups"`
}

// GroupState is what one group has counted.
type GroupState struct {
	Labels   []string      `json:"labels"`
	Count    int64         `json:"count"`
	First    int64         `json:"first"`
	Last     int64         `json:"last"`
	Evidence []EventRef    `json:"evidence,omitempty"`
	Aggs     []AggregateSt `json:"aggs,omitempty"`
}

// EventRef is one evidence event: time, auditID, and where it was read
// (File indexes Snapshot.Files, 1-based; 0 unknown).
type EventRef struct {
	T    int64  `json:"t"`
	ID   string `json:"id"`
	File uint32 `json:"file,omitempty"`
	Off  int64  `json:"off,omitempty"`
}

// AggregateSt is one aggregate of a group.
type AggregateSt struct {
	Values   []string  `json:"values,omitempty"`
	LastVal  string    `json:"lastVal,omitempty"`
	Overflow bool      `json:"overflow,omitempty"`
	Has      bool      `json:"has,omitempty"`
	At       *EventRef `json:"at,omitempty"`
	Val      *Value    `json:"val,omitempty"`
	Num      float64   `json:"num,omitempty"`
	N        int64     `json:"n,omitempty"`
}

// Value is a first()/last() value with its Go type, so that it comes back
// as it was.
type Value struct {
	Kind string    `json:"kind"` // string, bool, int, int64, float64, time, nil
	S    string    `json:"s,omitempty"`
	B    bool      `json:"b,omitempty"`
	I    int64     `json:"i,omitempty"`
	F    float64   `json:"f,omitempty"`
	T    time.Time `json:"t,omitzero"`
}

func valueOf(v any) *Value {
	switch x := v.(type) {
	case nil:
		return &Value{Kind: "nil"}
	case string:
		return &Value{Kind: "string", S: x}
	case bool:
		return &Value{Kind: "bool", B: x}
	case int:
		return &Value{Kind: "int", I: int64(x)}
	case int64:
		return &Value{Kind: "int64", I: x}
	case float64:
		return &Value{Kind: "float64", F: x}
	case time.Time:
		return &Value{Kind: "time", T: x}
	}
	return &Value{Kind: "string", S: fmt.Sprint(v)}
}

func (v *Value) value() any {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case "string":
		return v.S
	case "bool":
		return v.B
	case "int":
		return int(v.I)
	case "int64":
		return v.I
	case "float64":
		return v.F
	case "time":
		return v.T
	}
	return nil
}

// RuleDigest identifies what a rule's groups count: its match, group_by,
// window, when and values. Titles, summaries and advice may change between
// runs without losing the open windows.
func RuleDigest(r *rules.Rule) string {
	h := sha256.New()
	field := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	field(r.ID)
	field(r.Match)
	for _, g := range r.GroupBy {
		field(g.Name)
		field(g.Expr)
	}
	field(r.Window.Size.String())
	field(r.Window.Slide.String())
	field(r.When)
	for _, v := range r.Values {
		field(v.Name)
		field(v.Expr)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Suspend is Finish for a run the next one resumes: windows that end after
// the horizon (through less the lateness, so that events still to be
// logged for them are counted) are not evaluated but returned in the
// snapshot, for the next run's Restore. Whole-input rules are evaluated
// and kept. through is the log time up to which the input is complete.
func (e *Engine) Suspend(through time.Time) (*Result, *Snapshot) {
	horizon := through.UnixNano() - int64(e.opts.Lateness) - int64(slack)
	return e.finish(true, horizon)
}

// Restore hands an earlier run's open windows to this engine, before
// reading. Rules changed since (another digest), or no longer run, lose
// their windows; the ids of those are returned.
func (e *Engine) Restore(s *Snapshot) (dropped []string, err error) {
	if s == nil {
		return nil, nil
	}
	if s.Version != SnapshotVersion {
		return nil, fmt.Errorf("open windows saved in format %d, this version reads %d: they are dropped", s.Version, SnapshotVersion)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	fileIdx := make([]uint32, len(s.Files)+1)
	for k, name := range s.Files {
		fileIdx[k+1] = e.fileID(name)
	}
	ref := func(r EventRef) evRef {
		var file uint32
		if int(r.File) < len(fileIdx) {
			file = fileIdx[r.File]
		}
		return makeRef(r.T, r.ID, file, r.Off)
	}
	byID := map[string]int{}
	for i, r := range e.rules {
		byID[r.ID] = i
	}
	for _, rs := range s.Rules {
		i, ok := byID[rs.Rule]
		if !ok || RuleDigest(e.rules[i]) != rs.Digest {
			dropped = append(dropped, rs.Rule)
			continue
		}
		naggs := len(e.comp[i].Aggs)
		m := &e.merged[i]
		m.closedUpTo = max(m.closedUpTo, rs.ClosedUpTo)
		for _, ws := range rs.Windows {
			w := e.newWindow(i, ws.Start, ws.End)
			w.events = ws.Events
			for _, gs := range ws.Groups {
				if len(gs.Aggs) != naggs {
					return dropped, fmt.Errorf("rule %s: a saved group has %d aggregates, the rule %d", rs.Rule, len(gs.Aggs), naggs)
				}
				if len(gs.Labels) != len(e.comp[i].Keys) {
					return dropped, fmt.Errorf("rule %s: a saved group has %d labels, the rule %d", rs.Rule, len(gs.Labels), len(e.comp[i].Keys))
				}
				g := e.layouts[i].new()
				copy(g.labels, gs.Labels)
				g.count, g.first, g.last = gs.Count, gs.First, gs.Last
				for _, ev := range gs.Evidence {
					g.addEvidence(ref(ev))
				}
				for a, as := range gs.Aggs {
					st := &g.aggs[a]
					st.overflow, st.has, st.lastVal, st.num, st.n = as.Overflow, as.Has, as.LastVal, as.Num, as.N
					if len(as.Values) > smallSet {
						st.set = make(map[string]struct{}, len(as.Values))
						for _, v := range as.Values {
							st.set[v] = struct{}{}
						}
					} else if len(as.Values) > 0 {
						st.small = append([]string(nil), as.Values...)
						sort.Strings(st.small)
					}
					if as.At != nil {
						st.fl = &firstLast{at: ref(*as.At), val: as.Val.value()}
					}
				}
				w.tab.put(strings.Join(gs.Labels, "\x00"), g)
			}
			e.openGroups.Add(int64(w.tab.len()))
			if mw, ok := m.windows[w.start]; ok {
				e.openGroups.Add(-int64(mw.tab.mergeFrom(w.tab, e.comp[i].Aggs)))
				mw.events += w.events
				continue
			}
			m.windows[w.start] = w
		}
	}
	if n := e.openGroups.Load(); n > e.peakGroups.Load() {
		e.peakGroups.Store(n)
	}
	e.carried = true
	e.carrySpan = s.Span
	return dropped, nil
}

// takeSuspended removes the merged windows of windowed rules that end by
// horizon, for evaluation, and returns with them every whole-input window,
// which stays (its groups unseen for WholeRetention dropped). Called with
// e.mu held.
func (e *Engine) takeSuspended(horizon int64) []readyWindow {
	var out []readyWindow
	for i := range e.merged {
		m := &e.merged[i]
		if e.rules[i].Window.Whole() {
			for _, w := range m.windows {
				old := w.tab
				var dropped int
				w.tab, dropped = old.filter(func(r *grec) bool { return r.last >= horizon-int64(WholeRetention) })
				old.release()
				e.openGroups.Add(-int64(dropped))
				// evaluate() gives back the groups it saw; these stay open.
				e.openGroups.Add(int64(w.tab.len()))
				out = append(out, readyWindow{rule: i, w: w, keep: true})
			}
			continue
		}
		out = append(out, e.takeEnded(i, horizon)...)
		m.closedUpTo = max(m.closedUpTo, horizon)
	}
	return out
}

// snapshot is what takeSuspended left. Called with e.mu held, after
// evaluation and rendering.
func (e *Engine) snapshot(horizon int64) *Snapshot {
	s := &Snapshot{Version: SnapshotVersion, ClosedThrough: time.Unix(0, horizon).UTC(), Span: [2]int64{e.spanMin, e.spanMax}}
	used := map[uint32]uint32{}
	fileRef := func(r evRef) EventRef {
		out := EventRef{T: r.t, ID: r.id.String(), Off: r.off()}
		if f := r.file(); f > 0 {
			idx, ok := used[f]
			if !ok {
				s.Files = append(s.Files, e.files[f-1])
				idx = uint32(len(s.Files))
				used[f] = idx
			}
			out.File = idx
		}
		return out
	}
	for i, r := range e.rules {
		m := &e.merged[i]
		rs := RuleState{Rule: r.ID, Digest: RuleDigest(r), ClosedUpTo: m.closedUpTo}
		starts := make([]int64, 0, len(m.windows))
		for start := range m.windows {
			starts = append(starts, start)
		}
		sort.Slice(starts, func(a, b int) bool { return starts[a] < starts[b] })
		for _, start := range starts {
			w := m.windows[start]
			if w.tab.len() == 0 {
				continue
			}
			ws := WindowState{Start: w.start, End: w.end, Events: w.events}
			_, idx := w.tab.sortedKeys(0)
			for _, gi := range idx {
				g := w.tab.group(gi, e.layouts[i])
				gs := GroupState{Labels: g.labels, Count: g.count, First: g.first, Last: g.last}
				for _, ev := range g.evidence {
					gs.Evidence = append(gs.Evidence, fileRef(ev))
				}
				for a := range g.aggs {
					st := &g.aggs[a]
					as := AggregateSt{LastVal: st.lastVal, Overflow: st.overflow, Has: st.has, Num: st.num, N: st.n}
					as.Values = append(as.Values, st.small...)
					for v := range st.set {
						as.Values = append(as.Values, v)
					}
					sort.Strings(as.Values)
					switch e.comp[i].Aggs[a].Kind {
					case rules.AggFirst, rules.AggLast:
						if st.has && st.fl != nil {
							at := fileRef(st.fl.at)
							as.At = &at
							as.Val = valueOf(st.fl.val)
						}
					}
					gs.Aggs = append(gs.Aggs, as)
				}
				ws.Groups = append(ws.Groups, gs)
			}
			rs.Windows = append(rs.Windows, ws)
		}
		if len(rs.Windows) > 0 || !r.Window.Whole() {
			s.Rules = append(s.Rules, rs)
		}
	}
	return s
}

// Groups is how many groups the snapshot holds.
func (s *Snapshot) Groups() int {
	if s == nil {
		return 0
	}
	n := 0
	for _, r := range s.Rules {
		for _, w := range r.Windows {
			n += len(w.Groups)
		}
	}
	return n
}
