package cmd

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/cluster/apiserverlog"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/report/sarif"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

const detectExample = `  # Run the shipped rules over a log
  kubectl audit detect -f /var/log/kubernetes/audit/audit.log

  # In CI or cron: exit 2 when something high or critical is found
  kubectl audit detect -f audit.log --fail-on high -o json

  # Add your rules (and disable shipped ones with "- id: X\n  enabled: false")
  kubectl audit detect -f audit.log --rules ./my-rules/

  # Only some rules; SARIF for code-scanning dashboards
  kubectl audit detect -f audit.log --rule failed-authentication --rule rbac-denied -o sarif`

// DetectOptions holds `detect`'s flags.
type DetectOptions struct {
	genericiooptions.IOStreams
	Read      *ReadFlags
	Output    string
	FailOn    string
	Rules     []string
	Only      []string
	MaxGroups int
	NoLink    bool
	// ShowSecrets lets findings print what rules read from secret bodies.
	ShowSecrets bool
	// APIServerLogs are kube-apiserver's own logs, to explain 401s.
	APIServerLogs []string
	// Sched makes it a scheduled run (--state, --notify, --report).
	Sched ScheduleFlags

	configFlags *genericclioptions.ConfigFlags
	linker      *cluster.Linker
	authLogs    []*apiserverlog.Log
	auth        *apiserverlog.Joiner
	readOpts    sources.ReadOptions
	set         *rules.Set
	failOn      rules.Severity
	failSet     bool
	now         func() time.Time
}

// detectOutput is detect's -o.
var detectOutput = outputFormats{allowed: []string{"table", "wide", "json", "yaml", "sarif", "rbac"},
	note: "the Role/ClusterRole and binding that would allow what RBAC denied, minus what the live cluster already allows"}

// NewDetectOptions returns the defaults.
func NewDetectOptions(streams genericiooptions.IOStreams) *DetectOptions {
	return &DetectOptions{IOStreams: streams, Read: NewReadFlags(), Output: "table", MaxGroups: detectors.DefaultMaxGroups, now: time.Now}
}

// NewCmdDetect builds "kubectl audit detect".
func NewCmdDetect(streams genericiooptions.IOStreams, configFlags *genericclioptions.ConfigFlags) *cobra.Command {
	o := NewDetectOptions(streams)
	o.configFlags = configFlags
	c := &cobra.Command{
		Use:   "detect -f FILE... [--rules FILE|DIR] [--fail-on SEVERITY]",
		Short: "Run windowed detection rules over audit logs and report findings",
		Long: `Run detection rules (the shipped ones, see "kubectl audit rules list", plus
--rules files) over audit logs. A rule matches events, groups them (group_by),
counts them per time window, and reports a finding for each group whose
condition (when) holds: rule, severity, group key, count, first/last time, a
stable fingerprint, up to 5 evidence auditIDs, summary and advice.

Each request counts once: long-running requests (watch, exec, attach,
port-forward, proxy) at their ResponseStarted event, others at ResponseComplete
(or ResponseStarted when that is all the log has: failed authentication).
--stage overrides this.

When a rule needs request bodies (needs: Request) and the log has the
resources it watches only at Metadata, detect says so on stderr ("blind: ...").

Windows close as the log's time passes, so memory stays flat however long
the input. Several inputs read one after the other (the logs of several
apiservers) overlap in time: their windows stay open until the end, and
--max-groups bounds the memory they take.

Exit codes: 0 no finding at or above --fail-on (or no --fail-on), 1 error,
2 findings at or above --fail-on, 3 --strict and input lines were skipped.`,
		Example: detectExample,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	o.Read.AddFlags(c.Flags())
	o.Read.Nodes.Cluster = configFlags
	detectOutput.AddFlag(c.Flags(), &o.Output)
	c.Flags().StringVar(&o.FailOn, "fail-on", o.FailOn, "exit with code 2 if a finding has this severity or higher: "+strings.Join(rules.SeverityNames(), ", "))
	c.Flags().StringSliceVar(&o.Rules, "rules", o.Rules, "rule files or directories to load besides the shipped rules (repeatable)")
	c.Flags().StringSliceVar(&o.Only, "rule", o.Only, "run only these rule ids (repeatable)")
	c.Flags().IntVar(&o.MaxGroups, "max-groups", o.MaxGroups, "most groups held open at once; events beyond are not counted and reported")
	c.Flags().StringSliceVar(&o.APIServerLogs, "apiserver-log", o.APIServerLogs,
		"kube-apiserver's own log (repeatable, gzip ok): each 401 is joined to its \"Unable to authenticate the request\" line, so findings say why (expired certificate, unknown authority, invalid token)")
	c.Flags().BoolVar(&o.NoLink, "no-link", o.NoLink, "do not look up the live objects behind findings (by default detect does when the kubeconfig's cluster is reachable)")
	c.Flags().BoolVar(&o.ShowSecrets, "show-secrets", o.ShowSecrets, "let findings (keys, values, summaries) print what rules read from bodies of secrets, tokens and token reviews (redacted by default)")
	o.Sched.AddFlags(c.Flags())
	return c
}

// loadRuleSet loads the shipped rules and the user's files.
func loadRuleSet(files []string) (*rules.Set, error) {
	// Compiling allocates ~8 MB, all of it garbage but the programs: the
	// collector, whose first goal is a 4 MB heap, would run several times
	// for nothing at the start of every run.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	shipped, err := builtin.Rules()
	if err != nil {
		return nil, fmt.Errorf("shipped rules: %w", err)
	}
	paths, err := rules.RuleFiles(files)
	if err != nil {
		return nil, err
	}
	return rules.Load(shipped, paths)
}

// Complete loads the rules and resolves the inputs.
func (o *DetectOptions) Complete() error {
	var err error
	if o.set, err = loadRuleSet(o.Rules); err != nil {
		return err
	}
	if o.FailOn != "" {
		s, ok := rules.ParseSeverity(o.FailOn)
		if !ok {
			return fmt.Errorf("--fail-on must be one of %s; got %q", strings.Join(rules.SeverityNames(), ", "), o.FailOn)
		}
		o.failOn, o.failSet = s, true
	}
	if o.authLogs, err = loadAPIServerLogs(o.APIServerLogs); err != nil {
		return err
	}
	if !o.NoLink && o.configFlags != nil {
		o.linker = cluster.New(o.configFlags, cluster.Options{})
	}
	if err := o.completeSchedule(); err != nil {
		return err
	}
	o.readOpts, err = o.Read.ToOptions(o.In, o.now())
	// Rules' prefilters ask every event for a few annotations and its
	// node.
	o.readOpts.Eager = true
	return err
}

// Validate checks flag values.
func (o *DetectOptions) Validate() error {
	if err := detectOutput.Validate(o.Output); err != nil {
		return err
	}
	if o.MaxGroups < 1 {
		return fmt.Errorf("--max-groups must be at least 1")
	}
	for _, id := range o.Only {
		if o.set.Get(id) == nil {
			return fmt.Errorf("--rule: no rule %q (see kubectl audit rules list)", id)
		}
	}
	return o.validateSchedule()
}

// selected returns the rules to run.
func (o *DetectOptions) selected() []*rules.Rule {
	if len(o.Only) == 0 {
		return o.set.Enabled()
	}
	var out []*rules.Rule
	for _, id := range o.Only {
		out = append(out, o.set.Get(id))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Run reads the input, runs the rules and prints the findings.
func (o *DetectOptions) Run(ctx context.Context) error {
	if o.Sched.State != "" {
		return o.runScheduled(ctx)
	}
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
	st, err := o.Read.Read(ctx, o.readOpts, o.ErrOut, newSink)
	if err != nil {
		return err
	}
	res := eng.Finish()
	for _, b := range res.Blind {
		fmt.Fprintf(o.ErrOut, "%s: %s\n", b.Rule, b.Message)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	if err := o.print(ctx, res, selected); err != nil {
		return err
	}
	if !o.Read.Quiet {
		fmt.Fprintf(o.ErrOut, "%d findings from %d rules over %d requests (at most %d groups open at once)\n", len(res.Findings), len(selected), res.Events, res.PeakGroups)
	}
	if err := o.Read.StrictError(st); err != nil {
		return err
	}
	if o.failSet {
		n := 0
		for _, f := range res.Findings {
			if f.Level >= o.failOn {
				n++
			}
		}
		if n > 0 {
			return &ExitCodeError{Code: ExitFindings, Err: fmt.Errorf("%d findings at or above %s", n, o.failOn)}
		}
	}
	return nil
}

func (o *DetectOptions) print(ctx context.Context, res *detectors.Result, selected []*rules.Rule) error {
	switch o.Output {
	case "sarif":
		return writeData(o.Out, "json", sarif.Of(res, selected, Version().Version))
	case "rbac":
		var l *cluster.Linker
		if o.linker != nil {
			if ok, _ := o.linker.Available(); ok {
				l = o.linker
			}
		}
		return writeRBAC(ctx, o.Out, res.Findings, l)
	}
	if o.linker == nil && o.auth == nil {
		switch o.Output {
		case "json":
			head := *res
			head.Findings = []detectors.Finding{}
			return writeJSONList(o.Out, &head, "findings", res.Findings)
		case "yaml":
			if res.Findings == nil {
				res.Findings = []detectors.Finding{}
			}
			return writeData(o.Out, o.Output, res)
		}
		return printFindings(o.Out, res.Findings, o.Output == "wide")
	}
	linked := linkedResult{Result: res, Findings: linkFindings(ctx, o.linker, res.Findings)}
	if o.auth != nil {
		for i := range linked.Findings {
			f := &linked.Findings[i]
			if ip := f.Key[cluster.KeySourceIP]; ip != "" {
				f.AuthenticationErrors = o.auth.Reasons(ip, f.First, f.Last)
			}
		}
		found, total := o.auth.Totals()
		fmt.Fprintf(o.ErrOut, "apiserver log: %d of %d failed authentications joined to their reason\n", found, total)
	}
	if linked.Findings == nil {
		linked.Findings = []linkedFinding{}
	}
	switch o.Output {
	case "json":
		head := linked
		head.Findings = []linkedFinding{}
		return writeJSONList(o.Out, head, "findings", linked.Findings)
	case "yaml":
		return writeData(o.Out, o.Output, linked)
	}
	if err := printFindings(o.Out, res.Findings, o.Output == "wide"); err != nil {
		return err
	}
	printLinks(o.Out, linked.Findings)
	return nil
}

// printFindings writes the table: one finding per line, the summary last.
func printFindings(w io.Writer, fs []detectors.Finding, wide bool) error {
	if len(fs) == 0 {
		_, err := fmt.Fprintln(w, "No findings.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if wide {
		fmt.Fprintln(tw, "SEVERITY\tRULE\tCOUNT\tFIRST\tLAST\tKEY\tFINGERPRINT\tEVIDENCE\tSUMMARY")
	} else {
		fmt.Fprintln(tw, "SEVERITY\tRULE\tCOUNT\tFIRST\tSUMMARY")
	}
	for _, f := range fs {
		summary := oneLine(f.Summary)
		if wide {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Rule, f.Count,
				f.First.Format(time.RFC3339), f.Last.Format(time.RFC3339), f.KeyString(), f.Fingerprint,
				strings.Join(f.Evidence, ","), summary)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", f.Severity, f.Rule, f.Count, f.First.Format(time.RFC3339), summary)
	}
	return tw.Flush()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
