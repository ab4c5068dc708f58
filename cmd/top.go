package cmd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/report/chart"
	"github.com/kubectl-audit/kubectl-audit/sources"
	"github.com/kubectl-audit/kubectl-audit/top"
)

const topExample = `  # The overview: total rate, then the top users, resources and status codes
  kubectl audit top -f /var/log/kubernetes/audit/

  # Who calls the most, by group, then by resource and verb
  kubectl audit top -f audit.log --by group
  kubectl audit top -f audit.log --by resource,verb --limit 10

  # Who is being denied, and which nodes call the most
  kubectl audit top -f audit.log --by user --where 'code == 403'
  kubectl audit top -f audit.log --by node

  # Status codes over time, as sparklines and as a chart
  kubectl audit top -f audit.log --by code --every 1m --plot codes.svg

  # Slow LISTs by resource, with kube-apiserver's latency breakdown
  kubectl audit top -f audit.log --by resource --where 'verb == "list"' --sort p99 --latency`

// TopOptions holds `top`'s flags and what Complete makes of them.
type TopOptions struct {
	genericiooptions.IOStreams
	Read         *ReadFlags
	By           string
	Where        string
	Every        time.Duration
	Plot         string
	Sort         string
	Limit        int
	Output       string
	RawUserAgent bool
	ShowSecrets  bool
	Latency      bool
	MaxGroups    int
	NoColor      bool
	NoLink       bool

	configFlags *genericclioptions.ConfigFlags

	readOpts  sources.ReadOptions
	groupings [][]top.KeySpec
	where     *vm.Program
	now       func() time.Time
}

// NewTopOptions returns the defaults.
func NewTopOptions(streams genericiooptions.IOStreams) *TopOptions {
	return &TopOptions{IOStreams: streams, Read: NewReadFlags(), Sort: top.SortCount, Limit: 20, Output: "table",
		MaxGroups: top.DefaultMaxGroups, now: time.Now}
}

// NewCmdTop builds "kubectl audit top".
func NewCmdTop(streams genericiooptions.IOStreams, configFlags *genericclioptions.ConfigFlags) *cobra.Command {
	o := NewTopOptions(streams)
	o.configFlags = configFlags
	c := &cobra.Command{
		Use:   "top -f FILE... [--by KEY[,KEY...]]",
		Short: "Show who is doing what to the API server: rate, share, errors and latency by key",
		Long: `Aggregate audit events by one or more keys and print count, requests per second
over the covered time span, share, error rate (4xx/5xx) and latency p50/p99
(ResponseComplete events of requests that are not long-running).

Keys: ` + strings.Join(top.Keys, ", ") + `, any other event field
(kubectl audit rules fields: stage, apiGroup, subresource, ...), matched
case-insensitively so the expression names work too (userAgent, sourceIP,
serviceAccount; resourceKey is resource, groups is group), and
expr:<expression> over the event (for example expr:verb + " " + resource).
A request counts once for each of its groups with --by group. Without --by,
top prints an overview: the total rate, then the top users, resources and
status codes.`,
		Example: topExample,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(c, args); err != nil {
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
	fs := c.Flags()
	fs.StringVar(&o.By, "by", o.By, "comma-separated keys to group by: "+strings.Join(top.Keys, ", ")+", any other event field, expr:<expression> (last)")
	fs.StringVar(&o.Where, "where", o.Where, `keep only events for which this expr expression is true, e.g. 'code >= 400 && verb == "list"'`)
	fs.DurationVar(&o.Every, "every", o.Every, "also count per time bucket of this size and show a sparkline per row (e.g. 1m, 10s)")
	fs.StringVar(&o.Plot, "plot", o.Plot, "write the time series of the top rows as a chart: FILE.svg or FILE.png (implies --every, default a 60th of the span)")
	fs.StringVar(&o.Sort, "sort", o.Sort, "sort rows by: "+strings.Join(top.SortColumns, ", "))
	fs.IntVar(&o.Limit, "limit", o.Limit, "rows per table; the rest are summed in an <other> row (0: all)")
	topOutput.AddFlag(fs, &o.Output)
	fs.BoolVar(&o.RawUserAgent, "raw-useragent", o.RawUserAgent, "group by the whole user agent instead of the program name")
	fs.BoolVar(&o.ShowSecrets, "show-secrets", o.ShowSecrets, "print what expr: keys read from bodies of secrets, tokens and token reviews (redacted by default)")
	fs.BoolVar(&o.Latency, "latency", o.Latency, "add kube-apiserver's latency breakdown (apiserver.latency.k8s.io/* annotations of slow requests)")
	fs.BoolVar(&o.NoLink, "no-link", o.NoLink, "do not look up the live objects behind sourceip, node, serviceaccount and user rows (by default top does when the kubeconfig's cluster is reachable)")
	fs.IntVar(&o.MaxGroups, "max-groups", o.MaxGroups, "exact-count budget per table and worker; past it counts turn approximate with a stated error bound")
	return c
}

// Complete turns flags into typed options.
func (o *TopOptions) Complete(c *cobra.Command, _ []string) error {
	var err error
	if o.By == "" && c != nil && !c.Flags().Changed("limit") {
		o.Limit = 10 // the overview prints three tables: keep each short
	}
	if o.readOpts, err = o.Read.ToOptions(o.In, o.now()); err != nil {
		return err
	}
	if o.By == "" {
		for _, k := range []string{top.KeyUser, top.KeyResource, top.KeyCode} {
			ks, _ := top.ParseKeys(k)
			o.groupings = append(o.groupings, ks)
		}
	} else {
		ks, err := top.ParseKeys(o.By)
		if err != nil {
			return err
		}
		o.groupings = [][]top.KeySpec{ks}
	}
	if o.Where != "" {
		if o.where, err = top.CompileWhere(o.Where); err != nil {
			return err
		}
	}
	o.NoColor = os.Getenv("NO_COLOR") != "" || !isTerminal(o.Out)
	return nil
}

// topOutput is top's -o.
var topOutput = outputFormats{allowed: []string{"table", "wide", "json", "yaml", "csv"}}

// Validate checks flag combinations.
func (o *TopOptions) Validate() error {
	if err := topOutput.Validate(o.Output); err != nil {
		return err
	}
	valid := false
	for _, s := range top.SortColumns {
		if s == o.Sort {
			valid = true
		}
	}
	if !valid {
		return fmt.Errorf("--sort must be one of %s; got %q", strings.Join(top.SortColumns, ", "), o.Sort)
	}
	if o.Limit < 0 {
		return fmt.Errorf("--limit must be 0 or more")
	}
	if o.Every < 0 {
		return fmt.Errorf("--every must be positive")
	}
	if o.Every > 0 && o.Every < time.Second {
		return fmt.Errorf("--every must be at least 1s")
	}
	if o.Plot != "" {
		if _, err := chart.FormatOf(o.Plot); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	return nil
}

// Run reads the input and prints the tables.
func (o *TopOptions) Run(ctx context.Context) error {
	every := o.Every
	if o.Plot != "" && every == 0 {
		// The span is unknown before reading; pick a resolution after a
		// first pass would cost a second read, so use 1m, which suits logs
		// of an hour to a few days; --every overrides.
		every = time.Minute
	}
	topts := top.Options{Groupings: o.groupings, Where: o.where, Every: every, RawUserAgent: o.RawUserAgent,
		Latency: o.Latency, MaxGroups: o.MaxGroups, ShowSecrets: o.ShowSecrets}
	var aggs []*top.Aggregator
	st, err := o.Read.Read(ctx, o.readOpts, o.ErrOut, func() audit.Sink {
		a := top.New(topts)
		aggs = append(aggs, a)
		return a
	})
	if err != nil {
		return err
	}
	res, err := top.Merge(aggs, top.MergeOptions{Sort: o.Sort, Limit: o.Limit})
	if err != nil {
		return err
	}
	if !o.NoLink && o.configFlags != nil {
		o.link(ctx, res)
	}
	if res.ExprErrors > 0 {
		fmt.Fprintf(o.ErrOut, "warning: an expression failed on %d events, which were left out (first: %s)\n", res.ExprErrors, res.FirstExprErr)
	}
	if err := o.print(res); err != nil {
		return err
	}
	if o.Plot != "" {
		if err := writePlot(o.Plot, res, every); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		fmt.Fprintf(o.ErrOut, "wrote %s\n", o.Plot)
	}
	return o.Read.StrictError(st)
}
