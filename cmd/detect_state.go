package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/cluster/apiserverlog"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/notify"
	"github.com/kubectl-audit/kubectl-audit/schedule"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// ScheduleFlags make detect a scheduled run: --state, --notify, --report.
type ScheduleFlags struct {
	State             string
	Notify            []string
	Report            string
	WebhookSecretEnv  string
	WebhookSecretFile string
	NotifyTimeout     time.Duration
	NotifyAttempts    int

	store schedule.Store
	sinks []notify.Sink

	kubeOnce sync.Once
	kube     kubernetes.Interface
	kubeErr  error
}

// Report modes.
const (
	reportNew     = "new"
	reportOngoing = "ongoing"
)

// AddFlags registers the flags.
func (s *ScheduleFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.State, "state", s.State,
		"remember between runs how far each input was read, the windows still open and the incidents reported: file:PATH or configmap:NAMESPACE/NAME; "+
			"each run then reads only what is new and reports an incident once")
	fs.StringArrayVar(&s.Notify, "notify", s.Notify,
		"with --state, send each report to: webhook=URL (JSON, Idempotency-Key header), slack=URL (incoming webhook), events (Kubernetes Events on the linked objects), "+
			"file=PATH (JSON lines; .sarif: SARIF of the active incidents); repeatable")
	fs.StringVar(&s.Report, "report", reportNew,
		"with --state: new (an incident when it starts, and when it ends) or ongoing (also at every run while it lasts)")
	fs.StringVar(&s.WebhookSecretEnv, "webhook-secret-env", s.WebhookSecretEnv,
		"sign webhook bodies with HMAC-SHA256 (header "+notify.HeaderSignature+": sha256=<hex>) with the secret in this environment variable")
	fs.StringVar(&s.WebhookSecretFile, "webhook-secret-file", s.WebhookSecretFile, "as --webhook-secret-env, the secret read from this file")
	fs.DurationVar(&s.NotifyTimeout, "notify-timeout", 10*time.Second, "bound on each request to a webhook or Slack")
	fs.IntVar(&s.NotifyAttempts, "notify-attempts", 5, "tries of a report to a webhook or Slack on a transient error (5xx, 429, no answer), with backoff")
}

func (o *DetectOptions) kubeClient() (kubernetes.Interface, error) {
	s := &o.Sched
	s.kubeOnce.Do(func() {
		if o.configFlags == nil {
			s.kubeErr = errors.New("no kubeconfig")
			return
		}
		cfg, err := o.configFlags.ToRESTConfig()
		if err != nil {
			s.kubeErr = err
			return
		}
		s.kube, s.kubeErr = kubernetes.NewForConfig(cfg)
	})
	return s.kube, s.kubeErr
}

// completeSchedule parses --state and --notify.
func (o *DetectOptions) completeSchedule() error {
	s := &o.Sched
	if s.State == "" {
		if len(s.Notify) > 0 {
			return errors.New("--notify needs --state: without it every run would report every finding again")
		}
		return nil
	}
	var err error
	if s.store, err = schedule.ParseStore(s.State, o.kubeClient); err != nil {
		return err
	}
	if !o.NoLink && o.configFlags != nil {
		o.linker = cluster.New(o.configFlags, cluster.Options{Resources: schedule.LinkResources()})
	}
	var secret []byte
	switch {
	case s.WebhookSecretEnv != "" && s.WebhookSecretFile != "":
		return errors.New("--webhook-secret-env and --webhook-secret-file: give one")
	case s.WebhookSecretEnv != "":
		v, ok := os.LookupEnv(s.WebhookSecretEnv)
		if !ok || v == "" {
			return fmt.Errorf("--webhook-secret-env %s: the variable is not set", s.WebhookSecretEnv)
		}
		secret = []byte(v)
	case s.WebhookSecretFile != "":
		b, err := os.ReadFile(s.WebhookSecretFile)
		if err != nil {
			return fmt.Errorf("--webhook-secret-file: %w", err)
		}
		if secret = []byte(strings.TrimRight(string(b), "\r\n")); len(secret) == 0 {
			return fmt.Errorf("--webhook-secret-file %s is empty", s.WebhookSecretFile)
		}
	}
	host, _ := os.Hostname()
	opts := notify.Options{Timeout: s.NotifyTimeout, Attempts: s.NotifyAttempts, Secret: secret, Kube: o.kubeClient,
		Rules: o.selected(), Version: Version().Version, Instance: host, AfterSend: schedule.AfterSend}
	seen := map[string]bool{}
	for _, v := range s.Notify {
		spec, err := notify.ParseSpec(v)
		if err != nil {
			return err
		}
		if seen[spec.ID()] {
			return fmt.Errorf("--notify %s given twice", spec.Name())
		}
		seen[spec.ID()] = true
		sink, err := notify.New(spec, opts)
		if err != nil {
			return err
		}
		s.sinks = append(s.sinks, sink)
	}
	return nil
}

// validateSchedule checks the flags that need --state.
func (o *DetectOptions) validateSchedule() error {
	s := &o.Sched
	if s.State == "" {
		if s.Report != reportNew {
			return errors.New("--report needs --state")
		}
		return nil
	}
	if s.Report != reportNew && s.Report != reportOngoing {
		return fmt.Errorf("--report must be new or ongoing; got %q", s.Report)
	}
	switch o.Output {
	case "table", "wide", "json", "yaml":
	default:
		return fmt.Errorf("--output %s: with --state, detect prints the run's reports as table, wide, json or yaml (send SARIF with --notify file=PATH.sarif)", o.Output)
	}
	return nil
}

// scheduledOutput is what a scheduled run prints with -o json|yaml.
type scheduledOutput struct {
	Reports   []notify.Report `json:"reports"`
	State     string          `json:"state"`
	Delivered map[string]int  `json:"delivered,omitempty"`
}

// runScheduled is Run with --state.
func (o *DetectOptions) runScheduled(ctx context.Context) error {
	selected := o.selected()
	dopts := detectors.Options{MaxGroups: o.MaxGroups, Streaming: sources.TimeOrdered(o.readOpts.Inputs), ShowSecrets: o.ShowSecrets}
	eng, err := detectors.New(selected, dopts)
	if err != nil {
		return err
	}
	newSink := eng.NewSink
	if len(o.authLogs) > 0 {
		o.auth = apiserverlog.NewJoiner(o.authLogs)
		newSink = o.auth.Wrap(eng.NewSink)
	}
	var linkable bool
	if o.linker != nil {
		linkable, _ = o.linker.Available()
	}
	cfg := schedule.Config{
		Store:  o.Sched.store,
		Inputs: o.readOpts.Inputs,
		Read: func(ctx context.Context, inputs []sources.Input, open map[string]int64) (*sources.Stats, error) {
			ro := o.readOpts
			ro.Inputs, ro.OpenRequests, ro.KeepOpen = inputs, open, true
			return o.Read.Read(ctx, ro, o.ErrOut, newSink)
		},
		Engine:  eng,
		Rules:   selected,
		Sinks:   o.Sched.sinks,
		Ongoing: o.Sched.Report == reportOngoing,
		Log:     o.ErrOut,
	}
	if linkable {
		cfg.Link = func(ctx context.Context, f detectors.Finding) []cluster.Link {
			return o.linker.LinksFor(ctx, f.Key, f.Values)
		}
	}
	out, err := schedule.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if out.Busy {
		fmt.Fprintf(o.ErrOut, "%s: %s; this run stops, nothing read or sent\n", o.Sched.store.Name(), out.BusyMsg)
		return nil
	}
	res := out.Result
	for _, b := range res.Blind {
		fmt.Fprintf(o.ErrOut, "%s: %s\n", b.Rule, b.Message)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	switch o.Output {
	case "json", "yaml":
		data := scheduledOutput{Reports: out.Reports, State: out.State.Summary(), Delivered: out.Delivered}
		if data.Reports == nil {
			data.Reports = []notify.Report{}
		}
		if err := writeData(o.Out, o.Output, data); err != nil {
			return err
		}
	default:
		if err := printReports(o.Out, out.Reports, o.Output == "wide"); err != nil {
			return err
		}
	}
	if !o.Read.Quiet {
		counts := map[notify.Phase]int{}
		for _, r := range out.Reports {
			counts[r.Phase]++
		}
		fmt.Fprintf(o.ErrOut, "%d new, %d ongoing, %d ended incidents reported; %d inputs with nothing new; %s: %s\n",
			counts[notify.PhaseNew], counts[notify.PhaseOngoing], counts[notify.PhaseEnded], out.Unchanged, o.Sched.store.Name(), out.State.Summary())
		for _, s := range o.Sched.sinks {
			fmt.Fprintf(o.ErrOut, "%s: %d reports delivered\n", s.Name(), out.Delivered[s.Name()])
		}
	}
	var errs []error
	if err := out.Errs(); err != nil {
		errs = append(errs, err)
	}
	if o.linker != nil && linkable {
		if denied := o.linker.Denied(); len(denied) > 0 {
			errs = append(errs, fmt.Errorf("linking findings to live objects was refused: %s; grant list on %s (kubectl audit install cronjob's ClusterRole does), or run with --no-link",
				strings.Join(denied, "; "), strings.Join(schedule.LinkResources(), ", ")))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := o.Read.StrictError(out.Stats); err != nil {
		return err
	}
	if o.failSet {
		n := 0
		for _, r := range out.Reports {
			if r.Phase == notify.PhaseNew && r.Finding.Level >= o.failOn {
				n++
			}
		}
		if n > 0 {
			return &ExitCodeError{Code: ExitFindings, Err: fmt.Errorf("%d new incidents at or above %s", n, o.failOn)}
		}
	}
	return nil
}

// printReports writes a scheduled run's reports, one per line.
func printReports(w io.Writer, rs []notify.Report, wide bool) error {
	if len(rs) == 0 {
		_, err := fmt.Fprintln(w, "Nothing new.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if wide {
		fmt.Fprintln(tw, "PHASE\tSEVERITY\tRULE\tCOUNT\tFIRST\tLAST\tKEY\tINCIDENT\tSUMMARY")
	} else {
		fmt.Fprintln(tw, "PHASE\tSEVERITY\tRULE\tCOUNT\tFIRST\tSUMMARY")
	}
	for _, r := range rs {
		f := r.Finding
		if wide {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Phase, f.Severity, f.Rule, f.Count, f.First.Format(time.RFC3339),
				f.Last.Format(time.RFC3339), f.KeyString(), r.Incident, oneLine(f.Summary))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Phase, f.Severity, f.Rule, f.Count, f.First.Format(time.RFC3339), oneLine(f.Summary))
	}
	return tw.Flush()
}
