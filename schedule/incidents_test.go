package schedule

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

func windowFinding(rule, ip string, start time.Time, size time.Duration, count int64) detectors.Finding {
	end := start.Add(size)
	return detectors.Finding{Rule: rule, Severity: "high", Key: map[string]string{"sourceIP": ip}, KeyNames: []string{"sourceIP"},
		Count: count, First: start.Add(time.Second), Last: end.Add(-time.Second), WindowStart: &start, WindowEnd: &end,
		Fingerprint: fmt.Sprintf("fp-%s-%s-%d", rule, ip, start.Unix()), Windows: 1}
}

func wholeFinding(user string, first, last time.Time, count int64) detectors.Finding {
	return detectors.Finding{Rule: "rbac-denied", Severity: "medium", Key: map[string]string{"user": user}, KeyNames: []string{"user"},
		Count: count, First: first, Last: last, Fingerprint: "fp-rbac-" + user}
}

// TestTrack follows incidents over runs: what each run reports.
func TestTrack(t *testing.T) {
	const size = 5 * time.Minute
	ruleSet := map[string]*rules.Rule{"failed-authentication": {ID: "failed-authentication", Window: rules.Window{Size: size}}}
	w := func(k int) time.Time { return t0.Add(time.Duration(k) * size) }
	type run struct {
		findings []detectors.Finding
		closed   time.Time // the engine's horizon
		want     []string  // phase key, in order
	}
	for _, tc := range []struct {
		name    string
		ongoing bool
		runs    []run
	}{
		{name: "an incident over three runs: new once, then its end", runs: []run{
			{[]detectors.Finding{windowFinding("failed-authentication", "a", w(0), size, 5)}, w(1), []string{"new fp-failed-authentication-a-" + unix(w(0))}},
			// W1 fires: the same incident (its first window's id).
			{[]detectors.Finding{windowFinding("failed-authentication", "a", w(1), size, 7)}, w(2), nil},
			// W2 closed without firing: over.
			{nil, w(3), []string{"ended fp-failed-authentication-a-" + unix(w(0)) + "-ended"}},
		}},
		{name: "--report ongoing: each run it goes on", ongoing: true, runs: []run{
			{[]detectors.Finding{windowFinding("failed-authentication", "a", w(0), size, 5)}, w(1), []string{"new fp-failed-authentication-a-" + unix(w(0))}},
			{[]detectors.Finding{windowFinding("failed-authentication", "a", w(1), size, 7)}, w(2),
				[]string{"ongoing fp-failed-authentication-a-" + unix(w(0)) + "-ongoing-" + unix(w(2))}},
			{nil, w(2).Add(size - time.Second), nil}, // its next window is not closed yet: nothing
		}},
		{name: "a gap makes two incidents", runs: []run{
			{[]detectors.Finding{windowFinding("failed-authentication", "a", w(0), size, 5)}, w(2), []string{
				"new fp-failed-authentication-a-" + unix(w(0)), "ended fp-failed-authentication-a-" + unix(w(0)) + "-ended"}},
			{[]detectors.Finding{windowFinding("failed-authentication", "a", w(3), size, 5)}, w(4), []string{"new fp-failed-authentication-a-" + unix(w(3))}},
		}},
		{name: "other keys are other incidents", runs: []run{
			{[]detectors.Finding{windowFinding("failed-authentication", "b", w(0), size, 5), windowFinding("failed-authentication", "a", w(0), size, 5)}, w(1),
				[]string{"new fp-failed-authentication-a-" + unix(w(0)), "new fp-failed-authentication-b-" + unix(w(0))}},
		}},
		{name: "a whole-input group: new once, ongoing when it grows, ended when it no longer fires", ongoing: true, runs: []run{
			{[]detectors.Finding{wholeFinding("bob", w(0), w(1), 3)}, w(1), []string{"new " + wholeID(wholeFinding("bob", w(0), w(1), 3))}},
			{[]detectors.Finding{wholeFinding("bob", w(0), w(1), 3)}, w(2), nil},
			{[]detectors.Finding{wholeFinding("bob", w(0), w(2), 4)}, w(3), []string{
				fmt.Sprintf("ongoing %s-ongoing-%d", wholeID(wholeFinding("bob", w(0), w(1), 3)), w(2).UnixNano())}},
			{nil, w(4), []string{"ended " + wholeID(wholeFinding("bob", w(0), w(1), 3)) + "-ended"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var incidents []*Incident
			for i, r := range tc.runs {
				tr := &tracker{rules: ruleSet, ongoing: tc.ongoing, at: t0, closed: r.closed}
				var changes []change
				incidents, changes = tr.track(incidents, r.findings)
				var got []string
				for _, c := range changes {
					got = append(got, string(c.phase)+" "+c.key)
				}
				if strings.Join(got, "\n") != strings.Join(r.want, "\n") {
					t.Errorf("run %d reports:\n%s\nwant:\n%s", i+1, strings.Join(got, "\n"), strings.Join(r.want, "\n"))
				}
			}
		})
	}
}

func unix(t time.Time) string { return fmt.Sprint(t.Unix()) }

// TestTrackSumsCounts: an incident that goes on over runs counts every
// window's events.
func TestTrackSumsCounts(t *testing.T) {
	const size = 5 * time.Minute
	ruleSet := map[string]*rules.Rule{"failed-authentication": {ID: "failed-authentication", Window: rules.Window{Size: size}}}
	var incidents []*Incident
	for k, n := range []int64{5, 7, 9} {
		tr := &tracker{rules: ruleSet, at: t0, closed: t0.Add(time.Duration(k+1) * size)}
		incidents, _ = tr.track(incidents, []detectors.Finding{windowFinding("failed-authentication", "a", t0.Add(time.Duration(k)*size), size, n)})
	}
	if len(incidents) != 1 {
		t.Fatalf("%d incidents, want 1", len(incidents))
	}
	f := incidents[0].Latest.Finding
	if f.Count != 21 || f.Windows != 3 || f.Peak == nil || f.Peak.Count != 9 || !f.WindowEnd.Equal(t0.Add(3*size)) || f.Fingerprint != incidents[0].ID {
		t.Errorf("incident %+v", f)
	}
}
