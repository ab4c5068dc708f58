package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/detectors/ruletest"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
)

// NewCmdRules builds "kubectl audit rules" and its subcommands.
func NewCmdRules(streams genericiooptions.IOStreams) *cobra.Command {
	c := &cobra.Command{
		Use:   "rules",
		Short: "List, show, check and test detection rules",
		Long: `Detection rules are YAML: a list of rules with id, title, severity, needs,
match (an expression over one event), group_by, window, when (an expression
over a group: count, rate, distinct(x), values(x), first/last(x), min/max/sum/
avg(x), peers.median/p90/max/min/avg(x), peers.count), values, summary and
advice. The shipped rules are built in; --rules adds files or directories.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(newCmdRulesList(streams), newCmdRulesShow(streams), newCmdRulesLint(streams), newCmdRulesTest(streams), newCmdRulesFields(streams))
	return c
}

// rulesListOutput is rules list's -o.
var rulesListOutput = outputFormats{allowed: []string{"table", "wide", "json", "yaml"}}

func newCmdRulesList(streams genericiooptions.IOStreams) *cobra.Command {
	var files []string
	output := "table"
	c := &cobra.Command{
		Use:     "list [--rules FILE|DIR]",
		Short:   "List the rules, with the audit level each needs",
		Example: "  kubectl audit rules list\n  kubectl audit rules list --rules ./my-rules/ -o wide",
		Args:    cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := rulesListOutput.Validate(output); err != nil {
				return err
			}
			set, err := loadRuleSet(files)
			if err != nil {
				return err
			}
			switch output {
			case "json", "yaml":
				return writeData(streams.Out, output, ruleSummaries(set.Rules))
			}
			tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			if output == "wide" {
				fmt.Fprintln(tw, "ID\tSEVERITY\tNEEDS\tWINDOW\tENABLED\tSOURCE\tPREFILTER\tTITLE")
			} else {
				fmt.Fprintln(tw, "ID\tSEVERITY\tNEEDS\tWINDOW\tENABLED\tTITLE")
			}
			for _, r := range set.Rules {
				if output == "wide" {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n", r.ID, r.Severity, r.Needs, r.Window, r.Enabled,
						r.Pos, r.Compiled().Prefilter, r.Title)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", r.ID, r.Severity, r.Needs, r.Window, r.Enabled, r.Title)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringSliceVar(&files, "rules", nil, "rule files or directories to load besides the shipped rules")
	rulesListOutput.AddFlag(c.Flags(), &output)
	return c
}

type ruleSummary struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Severity  string   `json:"severity"`
	Needs     string   `json:"needs"`
	Window    string   `json:"window"`
	Enabled   bool     `json:"enabled"`
	Tags      []string `json:"tags,omitempty"`
	Source    string   `json:"source"`
	Prefilter string   `json:"prefilter"`
}

func ruleSummaries(rs []*rules.Rule) []ruleSummary {
	out := []ruleSummary{}
	for _, r := range rs {
		out = append(out, ruleSummary{ID: r.ID, Title: r.Title, Severity: r.Severity.String(), Needs: r.Needs,
			Window: r.Window.String(), Enabled: r.Enabled, Tags: r.Tags, Source: r.Pos.String(),
			Prefilter: r.Compiled().Prefilter.String()})
	}
	return out
}

func newCmdRulesShow(streams genericiooptions.IOStreams) *cobra.Command {
	var files []string
	c := &cobra.Command{
		Use:     "show ID",
		Short:   "Print a rule as written, with where it comes from and what it reads",
		Example: "  kubectl audit rules show failed-authentication",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			set, err := loadRuleSet(files)
			if err != nil {
				return err
			}
			r := set.Get(args[0])
			if r == nil {
				return fmt.Errorf("no rule %q (see kubectl audit rules list)", args[0])
			}
			c := r.Compiled()
			fmt.Fprintf(streams.Out, "# %s (enabled: %t)\n", r.Pos, r.Enabled)
			how := "then match is evaluated"
			if c.MatchExact {
				how = "which decides the match alone"
			}
			fmt.Fprintf(streams.Out, "# needs %s; prefilter: %s, %s\n", r.Needs, c.Prefilter, how)
			fmt.Fprintf(streams.Out, "# reads: %s\n", strings.Join(c.EventNames, ", "))
			_, err = fmt.Fprint(streams.Out, r.Text)
			return err
		},
	}
	c.Flags().StringSliceVar(&files, "rules", nil, "rule files or directories to load besides the shipped rules")
	return c
}

func newCmdRulesLint(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check rule files: strict YAML, expressions and templates, all problems at once",
		Long: `Parse and compile rule files and print every problem as file:line:col with the
rule id. Warns about rules whose match has no cheap prefilter (verb, resource,
code, user...), which makes them run on every event. Exits 1 on any problem.`,
		Example: "  kubectl audit rules lint my-rules/*.yaml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			paths, err := rules.RuleFiles(args)
			if err != nil {
				return err
			}
			var all rules.ErrorList
			n := 0
			seen := map[string]rules.Pos{}
			for _, p := range paths {
				data, err := os.ReadFile(p)
				if err != nil {
					all = append(all, &rules.Error{Pos: rules.Pos{File: p}, Msg: err.Error()})
					continue
				}
				rs, errs := rules.ParseAndCompile(p, data)
				all = append(all, errs...)
				for _, r := range rs {
					if prev, dup := seen[r.ID]; dup {
						all = append(all, &rules.Error{Pos: r.Pos, Rule: r.ID, Msg: fmt.Sprintf("rule defined twice (also at %s)", prev)})
					}
					seen[r.ID] = r.Pos
					n++
					if c := r.Compiled(); c != nil && c.Prefilter.Empty() {
						fmt.Fprintf(streams.ErrOut, "%s: rule %q: warning: match has no cheap prefilter (verb, resource, code, user ...): it runs on every event\n", r.Pos, r.ID)
					}
				}
			}
			all.Sort()
			for _, e := range all {
				fmt.Fprintln(streams.ErrOut, e)
			}
			if len(all) > 0 {
				return &ExitCodeError{Code: ExitError, Err: fmt.Errorf("%d problems in %d files", len(all), len(paths))}
			}
			fmt.Fprintf(streams.Out, "%d rules in %d files: OK\n", n, len(paths))
			return nil
		},
	}
}

func newCmdRulesTest(streams genericiooptions.IOStreams) *cobra.Command {
	var run string
	c := &cobra.Command{
		Use:   "test [FILE...]",
		Short: "Run promtool-style rule tests (the shipped rules' tests without FILE)",
		Long: `Run rule test files (name_test.yaml): each test gives inputs (audit log files,
or inline events) and, per rule, the exact findings expected ([] = must not
fire). Rule files are found beside the test file (rule_files:, default: the
test file's name without _test). Prints SUCCESS or FAILED with every
difference; exits 1 on failure. Without FILE, runs the shipped rules' tests.`,
		Example: "  kubectl audit rules test\n  kubectl audit rules test my-rules/*_test.yaml --run expired",
		RunE: func(_ *cobra.Command, args []string) error {
			type job struct {
				fsys fs.FS
				name string
				show string
			}
			var jobs []job
			if len(args) == 0 {
				names, _ := fs.Glob(builtin.FS(), "*_test.yaml")
				sort.Strings(names)
				for _, n := range names {
					jobs = append(jobs, job{builtin.FS(), n, builtin.Prefix + n})
				}
			}
			for _, a := range args {
				abs, err := filepath.Abs(a)
				if err != nil {
					return err
				}
				// Rooted at the volume, so inputs may sit anywhere ("../x.log").
				root := filepath.VolumeName(abs) + string(filepath.Separator)
				rel, err := filepath.Rel(root, abs)
				if err != nil {
					return err
				}
				jobs = append(jobs, job{os.DirFS(root), filepath.ToSlash(rel), a})
			}
			failed := 0
			for _, j := range jobs {
				fmt.Fprintf(streams.Out, "Unit Testing: %s\n", j.show)
				rep, err := ruletest.RunFile(j.fsys, j.name, run)
				if err != nil {
					failed++
					fmt.Fprintf(streams.Out, "  FAILED:\n    %s\n", strings.ReplaceAll(err.Error(), "\n", "\n    "))
					continue
				}
				if rep.OK() {
					fmt.Fprintf(streams.Out, "  SUCCESS (%d tests)\n", rep.Tests)
					continue
				}
				failed++
				fmt.Fprintln(streams.Out, "  FAILED:")
				for _, f := range rep.Failures {
					fmt.Fprintf(streams.Out, "    %s\n", f)
				}
			}
			if failed > 0 {
				return &ExitCodeError{Code: ExitError, Err: errors.New("rule tests failed")}
			}
			return nil
		},
	}
	c.Flags().StringVar(&run, "run", "", "run only the tests whose name contains this")
	return c
}

func newCmdRulesFields(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "fields",
		Short: "List the names match, group_by and aggregates can use",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EVENT NAME\tTYPE\tFROM\tDESCRIPTION")
			for _, f := range audit.Fields() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Signature(), f.Type, strings.Join(f.From, ", "), f.Desc)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err := fmt.Fprint(streams.Out, `
Group names (when, values, summary, advice): count, rate (per second over the
window), span and interval (seconds), windowStart, windowEnd, firstTime,
lastTime, rule, severity, title, the group_by names, and:
  distinct(x) values(x) first(x) last(x) min(x) max(x) sum(x) avg(x)   over the group's events
  peers.median(g) peers.p90(g) peers.max(g) peers.min(g) peers.avg(g)  g across the window's groups
  peers.count                                                           groups in the window
  identityAt(ip)                                                        (values only) the user ip last authenticated as
`)
			return err
		},
	}
}
