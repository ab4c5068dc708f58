package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/notify"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// LinkResources are the resources a scheduled run's linker lists: those of
// the objects the events sink puts Events on (a Node or Pod behind an
// address, a ServiceAccount, a MutatingWebhookConfiguration). A run with a
// narrow role (the CronJob's) asks for nothing else, so that it is never
// refused, and a refusal means the role lacks one of these.
func LinkResources() []string {
	return []string{"nodes", "pods", "serviceaccounts", "mutatingwebhookconfigurations.admissionregistration.k8s.io"}
}

// Config is one scheduled run.
type Config struct {
	Store  Store
	Inputs []sources.Input
	// Read reads inputs into Engine's sinks, with the long-running
	// requests an earlier run left open, and returns what it read.
	Read   func(ctx context.Context, inputs []sources.Input, open map[string]int64) (*sources.Stats, error)
	Engine *detectors.Engine
	Rules  []*rules.Rule
	// Link returns the live objects behind a finding; nil: no linking.
	Link  func(ctx context.Context, f detectors.Finding) []cluster.Link
	Sinks []notify.Sink
	// Ongoing reports incidents still active at every run (--report
	// ongoing); otherwise only their start and end.
	Ongoing bool
	// Now is the clock (default time.Now); Host names this run in the
	// state (default the host name).
	Now  func() time.Time
	Host string
	// Log receives what a person running it should know (stderr).
	Log io.Writer
}

// Outcome is what a run did.
type Outcome struct {
	// Busy is set when another run had the state: this one did nothing.
	Busy    bool
	BusyMsg string
	Stats   *sources.Stats
	Result  *detectors.Result
	// Reports are the reports this run made (each sink got them, or keeps
	// them pending).
	Reports []notify.Report
	// Delivered counts the reports each sink took (by sink name), earlier
	// runs' pending ones included.
	Delivered map[string]int
	// Failed are the sinks that failed, with why; their reports stay
	// pending for the next run.
	Failed []SinkError
	// State is the state saved.
	State *State
	// Unchanged counts inputs with nothing new since the last run.
	Unchanged int
}

// SinkError is a sink that could not take its reports.
type SinkError struct {
	Sink    string
	Pending int
	Err     error
}

func (e SinkError) Error() string {
	return fmt.Sprintf("%s: %d reports kept for the next run: %v", e.Sink, e.Pending, e.Err)
}

// Run is one scheduled run: read what is new, finish the open windows,
// track incidents, save the state with what is to be sent, send it, and
// record what was sent.
func Run(ctx context.Context, cfg Config) (*Outcome, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	now := cfg.Now().UTC()
	out := &Outcome{Delivered: map[string]int{}}
	unlock, err := cfg.Store.Lock(ctx)
	if errors.Is(err, ErrBusy) {
		out.Busy, out.BusyMsg = true, err.Error()
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := cfg.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	p, err := planInputs(st, cfg.Inputs, now)
	if err != nil {
		return nil, err
	}
	out.Unchanged = p.unchanged
	for _, n := range p.notes {
		fmt.Fprintf(cfg.Log, "note: %s\n", n)
	}
	if st.Engine != nil {
		dropped, err := cfg.Engine.Restore(st.Engine)
		if err != nil {
			fmt.Fprintf(cfg.Log, "warning: %v\n", err)
		}
		if len(dropped) > 0 {
			fmt.Fprintf(cfg.Log, "note: the open windows of %d rules changed or no longer run are dropped: %v\n", len(dropped), dropped)
		}
	}
	stats, err := cfg.Read(ctx, p.inputs, st.OpenRequests)
	out.Stats = stats
	if err != nil {
		return out, err
	}
	pos := p.commit(stats)
	res, snap := cfg.Engine.Suspend(through(pos.streams))
	out.Result = res

	byID := map[string]*rules.Rule{}
	for _, r := range cfg.Rules {
		byID[r.ID] = r
	}
	t := &tracker{rules: byID, ongoing: cfg.Ongoing, at: now, closed: snap.ClosedThrough}
	incidents, changes := t.track(st.Incidents, res.Findings)
	for _, c := range changes {
		if c.phase == notify.PhaseNew && cfg.Link != nil {
			c.inc.Links = cfg.Link(ctx, c.inc.Latest.Finding)
		}
		r := notify.NewReport(c.key, c.phase, c.inc.ID, c.inc.Latest.Finding, c.inc.Links, now)
		out.Reports = append(out.Reports, r)
	}
	for _, inc := range incidents {
		inc.Latest.Links = inc.Links
	}

	next := &State{Version: StateVersion, SavedAt: now, SavedBy: cfg.Host, Files: pos.files, Objects: pos.objects, LogStreams: pos.logStreams,
		Streams: pos.streams, OpenRequests: pruneOpen(stats.OpenRequests, through(pos.streams)), Engine: snap, Incidents: incidents}
	configured := map[string]notify.Sink{}
	for _, s := range cfg.Sinks {
		configured[s.ID()] = s
	}
	dropped := map[string]int{}
	for _, pd := range st.Pending {
		if _, ok := configured[pd.Sink]; !ok {
			dropped[pd.Sink]++
			continue
		}
		next.Pending = append(next.Pending, pd)
	}
	for id, n := range dropped {
		fmt.Fprintf(cfg.Log, "warning: %d reports pending for a sink no longer given (%s) are dropped\n", n, id)
	}
	for _, s := range cfg.Sinks {
		for _, r := range out.Reports {
			next.Pending = append(next.Pending, Pending{Sink: s.ID(), Report: r})
		}
	}
	pause.at("planned")
	if err := cfg.Store.Save(ctx, next); err != nil {
		if errors.Is(err, ErrBusy) {
			out.Busy, out.BusyMsg = true, err.Error()
			return out, nil
		}
		return out, err
	}
	out.State = next
	pause.at("saved")

	active := make([]notify.Report, 0, len(incidents))
	for _, inc := range incidents {
		active = append(active, inc.Latest)
	}
	for _, s := range cfg.Sinks {
		var todo []notify.Report
		for _, pd := range next.Pending {
			if pd.Sink == s.ID() {
				todo = append(todo, pd.Report)
			}
		}
		if len(todo) == 0 && !wantsActive(s) {
			continue
		}
		done, derr := s.Deliver(ctx, todo, active)
		out.Delivered[s.Name()] += len(done)
		if len(done) > 0 {
			delivered := map[string]bool{}
			for _, k := range done {
				delivered[k] = true
			}
			kept := next.Pending[:0:0]
			for _, pd := range next.Pending {
				if pd.Sink == s.ID() && delivered[pd.Report.Key] {
					continue
				}
				kept = append(kept, pd)
			}
			next.Pending = kept
			if err := cfg.Store.Save(ctx, next); err != nil {
				if errors.Is(err, ErrBusy) {
					out.Busy, out.BusyMsg = true, err.Error()
					return out, nil
				}
				return out, err
			}
		}
		if derr != nil {
			out.Failed = append(out.Failed, SinkError{Sink: s.Name(), Pending: len(todo) - len(done), Err: derr})
		}
	}
	return out, nil
}

// wantsActive: a sink that shows the active incidents is written even
// when there is nothing new (SARIF files are rewritten whole).
func wantsActive(s notify.Sink) bool {
	type shower interface{ ShowsActive() bool }
	a, ok := s.(shower)
	return ok && a.ShowsActive()
}

// pruneOpen drops long-running requests that started more than
// sources.MaxRequestLife before the horizon.
func pruneOpen(open map[string]int64, through time.Time) map[string]int64 {
	limit := through.Add(-sources.MaxRequestLife).UnixNano()
	out := make(map[string]int64, len(open))
	for id, t := range open {
		if t >= limit {
			out[id] = t
		}
	}
	return out
}

// Errs is the run's failures as one error naming each failing sink, or
// nil.
func (o *Outcome) Errs() error {
	if len(o.Failed) == 0 {
		return nil
	}
	sort.Slice(o.Failed, func(i, j int) bool { return o.Failed[i].Sink < o.Failed[j].Sink })
	errs := make([]error, len(o.Failed))
	for i, f := range o.Failed {
		errs[i] = f
	}
	return errors.Join(errs...)
}
