package schedule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/notify"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

// tracker turns a run's findings into reports, against the incidents
// reported before.
type tracker struct {
	rules   map[string]*rules.Rule
	ongoing bool
	at      time.Time
	// closed is the engine's horizon: every window that ended by then has
	// been evaluated.
	closed time.Time
}

// change is what happened to one incident in a run.
type change struct {
	inc   *Incident
	phase notify.Phase
	key   string
}

// wholeID names a whole-input rule's incident: its fingerprint (rule and
// key) and the time of its group's first event, so that the same group
// firing again after it was dropped (WholeRetention) is a new incident.
func wholeID(f detectors.Finding) string {
	h := sha256.Sum256([]byte(f.Fingerprint + "\x00" + f.First.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h[:])[:16]
}

// track merges the run's findings into the incidents: a finding whose
// first window follows an active incident's last one (of the same rule
// and key) continues it, with its id; any other is a new incident. An
// incident none of whose windows up to its end plus a window fired, now
// closed, has ended; so has a whole-input incident its rule no longer
// finds. It returns the changes to report, in a deterministic order.
func (t *tracker) track(incidents []*Incident, fs []detectors.Finding) ([]*Incident, []change) {
	byID := map[string]*Incident{}
	type rk struct{ rule, key string }
	active := map[rk][]*Incident{}
	for _, inc := range incidents {
		byID[inc.ID] = inc
		if !inc.Whole {
			active[rk{inc.Rule, inc.Key}] = append(active[rk{inc.Rule, inc.Key}], inc)
		}
	}
	seen := map[string]bool{}
	var changes []change
	sorted := append([]detectors.Finding(nil), fs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if ka, kb := a.KeyString(), b.KeyString(); ka != kb {
			return ka < kb
		}
		if a.WindowStart != nil && b.WindowStart != nil {
			return a.WindowStart.Before(*b.WindowStart)
		}
		return a.Fingerprint < b.Fingerprint
	})
	for _, f := range sorted {
		if f.WindowStart == nil {
			id := wholeID(f)
			seen[id] = true
			if inc, ok := byID[id]; ok {
				before := inc.Latest.Finding.Last
				inc.Latest = t.report(id, notify.PhaseNew, id, f)
				if f.Last.After(before) {
					changes = append(changes, change{inc: inc, phase: notify.PhaseOngoing, key: fmt.Sprintf("%s-ongoing-%d", id, f.Last.UnixNano())})
				}
				continue
			}
			inc := &Incident{ID: id, Rule: f.Rule, Key: f.KeyString(), Whole: true, Reported: t.at}
			inc.Latest = t.report(id, notify.PhaseNew, id, f)
			byID[id] = inc
			changes = append(changes, change{inc: inc, phase: notify.PhaseNew, key: id})
			continue
		}
		k := rk{f.Rule, f.KeyString()}
		var cont *Incident
		for _, inc := range active[k] {
			if !f.WindowStart.After(inc.WindowEnd) {
				cont = inc
			}
		}
		if cont != nil {
			t.merge(cont, f)
			seen[cont.ID] = true
			changes = append(changes, change{inc: cont, phase: notify.PhaseOngoing, key: fmt.Sprintf("%s-ongoing-%d", cont.ID, cont.WindowEnd.Unix())})
			continue
		}
		inc := &Incident{ID: f.Fingerprint, Rule: f.Rule, Key: f.KeyString(), WindowEnd: f.WindowEnd.UTC(), Reported: t.at}
		if r := t.rules[f.Rule]; r != nil {
			inc.Size, inc.Sliding = r.Window.Size, r.Window.Sliding()
		}
		inc.Latest = t.report(inc.ID, notify.PhaseNew, inc.ID, f)
		byID[inc.ID] = inc
		active[k] = append(active[k], inc)
		seen[inc.ID] = true
		changes = append(changes, change{inc: inc, phase: notify.PhaseNew, key: inc.ID})
	}
	var still []*Incident
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		inc := byID[id]
		ended := false
		if inc.Whole {
			ended = !seen[id]
		} else {
			size := inc.Size
			if size <= 0 {
				size = inc.WindowEnd.Sub(*inc.Latest.Finding.WindowStart)
			}
			ended = !inc.WindowEnd.Add(size).After(t.closed)
		}
		if ended {
			changes = append(changes, change{inc: inc, phase: notify.PhaseEnded, key: id + "-ended"})
			continue
		}
		still = append(still, inc)
	}
	if !t.ongoing {
		out := changes[:0]
		for _, c := range changes {
			if c.phase != notify.PhaseOngoing {
				out = append(out, c)
			}
		}
		changes = out
	}
	return still, changes
}

func (t *tracker) report(key string, phase notify.Phase, id string, f detectors.Finding) notify.Report {
	f.Fingerprint = id
	return notify.NewReport(key, phase, id, f, nil, t.at)
}

// merge adds a finding of later windows to an incident.
func (t *tracker) merge(inc *Incident, f detectors.Finding) {
	cur := inc.Latest.Finding
	if inc.Sliding {
		if f.Count > cur.Count {
			cur.Count = f.Count
			cur.Values, cur.ValueNames, cur.Summary, cur.Advice = f.Values, f.ValueNames, f.Summary, f.Advice
		}
	} else {
		prevPeak := cur.Count
		if cur.Peak != nil {
			prevPeak = cur.Peak.Count
		}
		peak := f.Count
		if f.Peak != nil {
			peak = f.Peak.Count
		}
		if peak > prevPeak {
			cur.Values, cur.ValueNames, cur.Summary, cur.Advice, cur.Peak = f.Values, f.ValueNames, f.Summary, f.Advice, f.Peak
			if cur.Peak == nil {
				cur.Peak = &detectors.Peak{Count: f.Count, WindowStart: *f.WindowStart}
			}
		}
		cur.Count += f.Count
	}
	if f.First.Before(cur.First) {
		cur.First = f.First
	}
	if f.Last.After(cur.Last) {
		cur.Last = f.Last
	}
	w := max(f.Windows, 1)
	cur.Windows = max(cur.Windows, 1) + w
	if f.WindowEnd.After(inc.WindowEnd) {
		end := f.WindowEnd.UTC()
		inc.WindowEnd = end
		cur.WindowEnd = &end
	}
	inc.Latest = notify.NewReport(inc.ID, notify.PhaseNew, inc.ID, cur, nil, t.at)
}
