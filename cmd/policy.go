package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/policy"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// NewCmdPolicy builds "kubectl audit policy" and its subcommands.
func NewCmdPolicy(streams genericiooptions.IOStreams, configFlags *genericclioptions.ConfigFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Lint an audit policy, and say what it would cost and which detectors it would blind",
		Long: `An audit policy decides what kube-apiserver logs: its rules are evaluated in
order and the first that matches a request sets the level (None, Metadata,
Request, RequestResponse) and the stages left out. lint checks a policy for
the traps; simulate evaluates it with kube-apiserver's own evaluator over a
log and says what it would cost.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(newCmdPolicyLint(streams, configFlags), newCmdPolicySimulate(streams))
	return c
}

// PolicyLintOptions holds `policy lint`'s flags.
type PolicyLintOptions struct {
	genericiooptions.IOStreams
	Files       []string
	Output      string
	FailOn      string
	NoDiscovery bool

	configFlags *genericclioptions.ConfigFlags
	failOn      rules.Severity
}

var policyLintOutput = outputFormats{allowed: []string{"table", "json", "sarif"}}

func newCmdPolicyLint(streams genericiooptions.IOStreams, configFlags *genericclioptions.ConfigFlags) *cobra.Command {
	o := &PolicyLintOptions{IOStreams: streams, Output: "table", FailOn: "low", configFlags: configFlags}
	var checks []string
	for _, ch := range policy.Checks {
		checks = append(checks, "  "+ch.ID+": "+ch.Title)
	}
	c := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check audit policies for the traps: shadowed rules, secrets in the log, no catch-all, wrong groups, blind detectors",
		Long: `Parse each audit policy with kube-apiserver's types (audit.k8s.io/v1, strictly:
unknown and duplicate fields are errors, with file:line:col) and report, each
with severity, place and a fix:

` + strings.Join(checks, "\n") + `

Resource names are checked against the cluster's discovery when the
kubeconfig's cluster is reachable (--no-discovery: never), else against the
built-in groups of Kubernetes v1.37.

Exit codes: 0 no finding at or above --fail-on, 1 error (a policy that does
not parse), 2 findings at or above --fail-on.`,
		Example: `  kubectl audit policy lint /etc/kubernetes/audit-policy.yaml
  kubectl audit policy lint policy.yaml -o sarif > policy.sarif
  kubectl audit policy lint policy.yaml --fail-on high`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Files = args
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	policyLintOutput.AddFlag(c.Flags(), &o.Output)
	c.Flags().StringVar(&o.FailOn, "fail-on", o.FailOn, "exit with code 2 if a finding has this severity or higher: "+strings.Join(rules.SeverityNames(), ", "))
	c.Flags().BoolVar(&o.NoDiscovery, "no-discovery", o.NoDiscovery, "check resources against the built-in groups of Kubernetes v1.37 even when a cluster is reachable")
	return c
}

// Validate checks the flags.
func (o *PolicyLintOptions) Validate() error {
	if err := policyLintOutput.Validate(o.Output); err != nil {
		return err
	}
	s, ok := rules.ParseSeverity(o.FailOn)
	if !ok {
		return fmt.Errorf("--fail-on must be one of %s; got %q", strings.Join(rules.SeverityNames(), ", "), o.FailOn)
	}
	o.failOn = s
	return nil
}

// Run lints the files and prints the findings.
func (o *PolicyLintOptions) Run(ctx context.Context) error {
	var files []*policy.File
	var errs []error
	for _, name := range o.Files {
		f, err := policy.Load(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, f)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	detectors, err := shippedDetectors()
	if err != nil {
		return err
	}
	res := policy.BuiltinResources()
	if !o.NoDiscovery && o.configFlags != nil {
		live, why := discoverResources(ctx, o.configFlags)
		if live != nil {
			res = live
		} else {
			fmt.Fprintf(o.ErrOut, "resources checked against %s (no cluster: %s)\n", res.Source, why)
		}
	}
	var results []policyLintResult
	n := 0
	for _, f := range files {
		fs := policy.Lint(f, policy.LintOptions{Resources: res, Detectors: detectors})
		results = append(results, policyLintResult{file: f, findings: fs})
		for _, x := range fs {
			if x.Severity >= o.failOn {
				n++
			}
		}
	}
	if err := printPolicyLint(o.Out, o.Output, results); err != nil {
		return err
	}
	if n > 0 {
		return &ExitCodeError{Code: ExitFindings, Err: fmt.Errorf("%d findings at or above %s", n, o.failOn)}
	}
	return nil
}

// shippedDetectors are the enabled shipped detect rules.
func shippedDetectors() ([]*rules.Rule, error) {
	all, err := builtin.Rules()
	if err != nil {
		return nil, fmt.Errorf("shipped rules: %w", err)
	}
	var out []*rules.Rule
	for _, r := range all {
		if r.Enabled {
			out = append(out, r)
		}
	}
	return out, nil
}

// discoverResources asks the kubeconfig's cluster what it serves; nil and
// why when it cannot.
func discoverResources(ctx context.Context, cf *genericclioptions.ConfigFlags) (*policy.Resources, string) {
	cfg, err := cf.ToRESTConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "no kubeconfig"
		}
		return nil, firstLine(err)
	}
	if raw, rerr := cf.ToRawKubeConfigLoader().RawConfig(); rerr == nil && len(raw.Clusters) == 0 &&
		strings.TrimPrefix(cfg.Host, "http://") == "localhost:8080" {
		// client-go's fallback, not a cluster the user chose.
		return nil, "no kubeconfig"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, firstLine(err)
	}
	type answer struct {
		pairs [][2]string
		err   error
	}
	done := make(chan answer, 1)
	go func() {
		var a answer
		_, lists, err := dc.ServerGroupsAndResources()
		if err != nil && len(lists) == 0 {
			a.err = err
		}
		for _, l := range lists {
			group, _, ok := strings.Cut(l.GroupVersion, "/")
			if !ok {
				group = ""
			}
			for _, r := range l.APIResources {
				a.pairs = append(a.pairs, [2]string{group, r.Name})
			}
		}
		done <- a
	}()
	select {
	case a := <-done:
		if a.err != nil {
			return nil, firstLine(a.err)
		}
		return policy.NewResources("the cluster's discovery ("+cfg.Host+")", true, a.pairs), ""
	case <-ctx.Done():
		return nil, ctx.Err().Error()
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// PolicySimulateOptions holds `policy simulate`'s flags.
type PolicySimulateOptions struct {
	genericiooptions.IOStreams
	File   string
	Read   *ReadFlags
	Output string
	Limit  int

	readOpts sources.ReadOptions
	now      func() time.Time
}

var policySimulateOutput = outputFormats{allowed: []string{"table", "json", "yaml"}}

func newCmdPolicySimulate(streams genericiooptions.IOStreams) *cobra.Command {
	o := &PolicySimulateOptions{IOStreams: streams, Read: NewReadFlags(), Output: "table", Limit: 10, now: time.Now}
	c := &cobra.Command{
		Use:   "simulate FILE -f LOG...",
		Short: "Say what a policy would log and cost over an audit log, next to what the log cost, and which detectors it would blind",
		Long: `Evaluate the policy with kube-apiserver's own policy rule evaluator against
every request of the log and report, next to the log's own figures, the events
per second and bytes per day it would write: in total, by level, by rule of
the policy, by resource and by user; the requests it would stop logging; and
the shipped detect rules it would blind or let see again.

Every event of the log is read (all stages). Each becomes the event of the
same stage the apiserver would write under the policy, if the policy logs
that stage: bodies cut to the new level are exact; bodies at a level the log
does not hold are estimated from the log's events of the same resource, verb
and stage that hold them, and stages the log does not hold (its policy omitted
them) are derived from each request's counted event: both are marked
estimates. A request makes RequestReceived, ResponseStarted (long-running
requests only) and ResponseComplete events, less the policy's omitStages;
one that failed authentication makes ResponseStarted only.

Requests the log's own policy did not log are not in the log, and cannot be
counted.`,
		Example: `  kubectl audit policy simulate new-policy.yaml -f /var/log/kubernetes/audit/
  kubectl audit policy simulate examples/audit-policy.yaml -f examples/audit.log.gz -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.File = args[0]
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	o.Read.AddFlags(c.Flags())
	policySimulateOutput.AddFlag(c.Flags(), &o.Output)
	c.Flags().IntVar(&o.Limit, "limit", o.Limit, "rows per table (resources, users, stopped requests); 0: all")
	return c
}

// Complete validates the flags and resolves the inputs.
func (o *PolicySimulateOptions) Complete() error {
	if err := policySimulateOutput.Validate(o.Output); err != nil {
		return err
	}
	if o.Limit < 0 {
		return fmt.Errorf("--limit must be 0 or more")
	}
	if o.Read.Stage != "auto" {
		return fmt.Errorf("--stage: simulate reads every stage of the log (it prices each one); leave --stage unset")
	}
	var err error
	if o.readOpts, err = o.Read.ToOptions(o.In, o.now()); err != nil {
		return err
	}
	o.readOpts.Stages = []string{audit.StageRequestReceived, audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}
	return nil
}

// Run reads the log through the policy and prints the comparison.
func (o *PolicySimulateOptions) Run(ctx context.Context) error {
	f, err := policy.Load(o.File)
	if err != nil {
		return err
	}
	detectors, err := shippedDetectors()
	if err != nil {
		return err
	}
	sim := policy.NewSimulator(f, policy.SimOptions{Detectors: detectors})
	st, err := o.Read.Read(ctx, o.readOpts, o.ErrOut, sim.NewSink)
	if err != nil {
		return err
	}
	res := sim.Result()
	if err := printPolicySimulation(o.Out, o.Output, res, o.Limit); err != nil {
		return err
	}
	return o.Read.StrictError(st)
}
