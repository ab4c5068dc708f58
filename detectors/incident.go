package detectors

import (
	"fmt"
	"sort"
	"time"

	"github.com/kubectl-audit/kubectl-audit/rules"
)

// Peak is the window of an incident with the highest count.
type Peak struct {
	Count       int64     `json:"count"`
	WindowStart time.Time `json:"windowStart"`
}

// incidents merges the findings of one rule and one group in consecutive
// or overlapping windows into one finding: a storm that lasts 20 minutes
// is one incident, not four 5-minute findings. The merged finding spans
// the first window's start to the last one's end; First and Last are the
// earliest and latest events; Count is the total (for tumbling windows;
// sliding windows share events, so there it is the peak window's count);
// Windows is how many windows it held; Peak names the busiest window,
// whose values, summary and advice the finding shows. Evidence, location
// and fingerprint are the first window's, so the fingerprint of an
// incident does not change as later windows join it.
func incidents(fs []Finding, ruleByID map[string]*rules.Rule) []Finding {
	type groupKey struct{ rule, key string }
	runs := map[groupKey][]int{}
	var out []Finding
	for i := range fs {
		if fs[i].WindowStart == nil {
			out = append(out, fs[i])
			continue
		}
		k := groupKey{fs[i].Rule, fs[i].KeyString()}
		runs[k] = append(runs[k], i)
	}
	keys := make([]groupKey, 0, len(runs))
	for k := range runs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].rule != keys[b].rule {
			return keys[a].rule < keys[b].rule
		}
		return keys[a].key < keys[b].key
	})
	for _, k := range keys {
		idx := runs[k]
		sort.Slice(idx, func(a, b int) bool { return fs[idx[a]].WindowStart.Before(*fs[idx[b]].WindowStart) })
		sliding := false
		if r := ruleByID[k.rule]; r != nil {
			sliding = r.Window.Sliding()
		}
		var cur *Finding
		var peak Finding
		flush := func() {
			if cur == nil {
				return
			}
			if cur.Windows > 1 {
				cur.Values, cur.ValueNames = peak.Values, peak.ValueNames
				cur.Summary, cur.Advice = peak.Summary, peak.Advice
				cur.Peak = &Peak{Count: peak.Count, WindowStart: *peak.WindowStart}
				if sliding {
					cur.Count = peak.Count
				}
				size := cur.WindowEnd.Sub(*peak.WindowStart)
				if r := ruleByID[k.rule]; r != nil {
					size = r.Window.Size
				}
				cur.Summary += fmt.Sprintf(" (the busiest of %d consecutive %s windows from %s to %s; %d events in all)",
					cur.Windows, formatWindow(size), cur.WindowStart.Format(time.RFC3339), cur.WindowEnd.Format(time.RFC3339), cur.Count)
			}
			out = append(out, *cur)
		}
		for _, i := range idx {
			f := fs[i]
			if cur != nil && !f.WindowStart.After(*cur.WindowEnd) {
				cur.Windows++
				if !sliding {
					cur.Count += f.Count
				}
				if f.First.Before(cur.First) {
					cur.First = f.First
				}
				if f.Last.After(cur.Last) {
					cur.Last = f.Last
				}
				if f.WindowEnd.After(*cur.WindowEnd) {
					end := *f.WindowEnd
					cur.WindowEnd = &end
				}
				if f.Count > peak.Count {
					peak = f
				}
				continue
			}
			flush()
			c := f
			c.Windows = 1
			cur, peak = &c, f
		}
		flush()
	}
	return out
}

// formatWindow spells a window size the way rules write it (5m, 1h30m).
func formatWindow(d time.Duration) string {
	s := d.String()
	for _, suffix := range []string{"m0s", "h0m"} {
		if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
			s = s[:len(s)-len(suffix)+1]
		}
	}
	return s
}
