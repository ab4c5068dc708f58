package cmd

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/metadata"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
	"github.com/kubectl-audit/kubectl-audit/sources/nodes"
	"github.com/kubectl-audit/kubectl-audit/top"
	"github.com/kubectl-audit/kubectl-audit/why"
)

// completionLong is the help of `kubectl audit completion`.
const completionLong = `Print the shell completion script of kubectl-audit for bash, zsh, fish or
powershell, for the plugin run as kubectl-audit.

Run as "kubectl audit", the plugin is completed by kubectl's own completion
(kubectl completion SHELL, kubectl 1.26 or later), which runs
kubectl_complete-audit from the PATH: the release archives ship it beside
kubectl-audit (krew installs it but links only kubectl-audit; see the README).`

// namesTimeout bounds the cluster lookup behind why's name completion.
const namesTimeout = 3 * time.Second

// registerCompletions makes every command under root complete its flag
// values and arguments (cobra's __complete, which the completion scripts and
// kubectl_complete-audit call): --rule the rule ids, -o the command's
// formats, --by top's keys, why its resource types and (with a cluster)
// names, -f files.
func registerCompletions(root *cobra.Command, configFlags *genericclioptions.ConfigFlags) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Long = completionLong
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if fn := flagCompletion(f, configFlags); fn != nil {
				if _, ok := c.GetFlagCompletionFunc(f.Name); !ok {
					_ = c.RegisterFlagCompletionFunc(f.Name, fn)
				}
			}
		})
		switch subcommandPath(c) {
		case "why":
			c.ValidArgsFunction = whyArgs(configFlags)
		case "rules show":
			c.ValidArgsFunction = func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				if len(args) > 0 {
					return nil, cobra.ShellCompDirectiveNoFileComp
				}
				return ruleIDs(c, toComplete, false), cobra.ShellCompDirectiveNoFileComp
			}
		case "rules lint", "rules test":
			c.ValidArgsFunction = ruleFiles
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// subcommandPath is c's path below the root: "rules show".
func subcommandPath(c *cobra.Command) string {
	var names []string
	for ; c.HasParent(); c = c.Parent() {
		names = append([]string{c.Name()}, names...)
	}
	return strings.Join(names, " ")
}

// flagCompletion returns the completion of one of our flags' values, or nil
// for flags completed as cobra does by default (files) or by cli-runtime.
func flagCompletion(f *pflag.Flag, configFlags *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	fixed := func(values []string) cobra.CompletionFunc {
		return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return withPrefix(values, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
	}
	list := func(values []string) cobra.CompletionFunc {
		return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return completeList(values, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
	}
	switch f.Name {
	case "filename", "apiserver-log":
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveDefault // the shell's file names
		}
	case "rules":
		return ruleFiles
	case "plot":
		return cobra.FixedCompletions([]string{"svg", "png"}, cobra.ShellCompDirectiveFilterFileExt)
	case "rule":
		return func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return ruleIDs(c, toComplete, true), cobra.ShellCompDirectiveNoFileComp
		}
	case "output":
		if formats := formatsOf(f.Usage); len(formats) > 0 {
			return fixed(formats)
		}
	case "by":
		return list(append(append([]string(nil), top.Keys...), "expr:"))
	case "sort":
		return fixed(top.SortColumns)
	case "fail-on":
		return fixed(rules.SeverityNames())
	case "stage":
		return list([]string{"auto", audit.StageRequestReceived, audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic})
	case "from":
		return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if prefix, ok := strings.CutPrefix(toComplete, fromNodePrefix); ok {
				return prefixed(fromNodePrefix, liveNames(configFlags, "nodes", prefix)), cobra.ShellCompDirectiveNoFileComp
			}
			// node/ goes on with a name: no space after it.
			return withPrefix([]string{fromNodes, fromNodePrefix}, toComplete), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
	case "node-path":
		return fixed(nodes.KnownDirs)
	case "since", "until", "where", "every", "limit", "workers", "max-groups", "max-line-size", "run", "node-selector":
		return cobra.NoFileCompletions
	}
	return nil
}

// formatsOf reads the formats from an -o flag's help, "output format: a, b,
// or c (...)": the help is where each command lists what it accepts.
func formatsOf(usage string) []string {
	rest, ok := strings.CutPrefix(usage, "output format: ")
	if !ok {
		return nil
	}
	if i := strings.IndexAny(rest, "(;"); i >= 0 {
		rest = rest[:i]
	}
	var out []string
	for _, f := range strings.Split(rest, ",") {
		f = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f), "or "))
		if f == "" || strings.ContainsAny(f, " \t") {
			return nil // not a list of plain names: complete nothing rather than nonsense
		}
		out = append(out, f)
	}
	return out
}

// ruleFiles completes rule files: YAML files and directories.
func ruleFiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// ruleIDs completes rule ids, "id\tseverity: title", of the shipped rules
// and of the command's --rules files (the shipped ones alone when those do
// not load); as a comma-separated list when list is set.
func ruleIDs(c *cobra.Command, toComplete string, list bool) []string {
	var files []string
	if c.Flags().Lookup("rules") != nil {
		// __complete parses the flags twice: each --rules value is there twice.
		given, _ := c.Flags().GetStringSlice("rules")
		for _, f := range given {
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	var rs []*rules.Rule
	if set, err := loadRuleSet(files); err == nil {
		rs = set.Rules
	} else if rs, err = builtin.Rules(); err != nil {
		return nil
	}
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, fmt.Sprintf("%s\t%s: %s", r.ID, r.Severity, r.Title))
	}
	sort.Strings(ids)
	if list {
		return completeList(ids, toComplete)
	}
	return withPrefix(ids, toComplete)
}

// withPrefix keeps the candidates ("value" or "value\tdescription") whose
// value starts with prefix.
func withPrefix(candidates []string, prefix string) []string {
	var out []string
	for _, c := range candidates {
		if value, _, _ := strings.Cut(c, "\t"); strings.HasPrefix(value, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// prefixed puts prefix before each value.
func prefixed(prefix string, values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		out = append(out, prefix+v)
	}
	return out
}

// completeList completes the last item of a comma-separated list: "a,b,c"
// completes "c", with the items already given left out.
func completeList(candidates []string, toComplete string) []string {
	done, last := "", toComplete
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		done, last = toComplete[:i+1], toComplete[i+1:]
	}
	given := map[string]bool{}
	for _, item := range strings.Split(strings.TrimSuffix(done, ","), ",") {
		given[item] = true
	}
	var out []string
	for _, c := range withPrefix(candidates, last) {
		if value, _, _ := strings.Cut(c, "\t"); !given[value] {
			out = append(out, done+c)
		}
	}
	return out
}

// whyArgs completes `why TYPE/NAME` and `why TYPE NAME`: the resource types
// why knows, then, when the kubeconfig's cluster answers within
// namesTimeout, the names of that type's objects there.
func whyArgs(configFlags *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		switch {
		case len(args) == 0 && strings.Contains(toComplete, "/"):
			typ, prefix, _ := strings.Cut(toComplete, "/")
			var out []string
			for _, n := range liveNames(configFlags, typ, prefix) {
				out = append(out, typ+"/"+n)
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		case len(args) == 0:
			return withPrefix(resourceTypes(), toComplete), cobra.ShellCompDirectiveNoFileComp
		case len(args) == 1 && !strings.Contains(args[0], "/"):
			return liveNames(configFlags, args[0], toComplete), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// resourceTypes are the type names why knows without a cluster: each
// built-in resource, its aliases and its lower-case kind, sorted.
func resourceTypes() []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range why.BuiltinNames() {
		names := []string{n}
		if r, ok := why.LookupBuiltin(n); ok && r.Kind != "" {
			names = append(names, strings.ToLower(r.Kind))
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// liveNames lists the names of the objects of a built-in type in the
// cluster (in the namespace of -n or the kubeconfig for namespaced types);
// none without a reachable cluster.
func liveNames(configFlags *genericclioptions.ConfigFlags, typ, prefix string) []string {
	res, ok := why.LookupBuiltin(typ)
	if !ok || res.Version == "" || configFlags == nil {
		return nil
	}
	cfg, err := configFlags.ToRESTConfig()
	if err != nil {
		return nil
	}
	cfg.Timeout = namesTimeout
	client, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil
	}
	ns := ""
	if res.Namespaced {
		if ns, _, err = configFlags.ToRawKubeConfigLoader().Namespace(); err != nil {
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), namesTimeout)
	defer cancel()
	return namesOf(ctx, client, res, ns, prefix)
}

// namesOf lists the names of res's objects in ns ("" for cluster-scoped)
// that start with prefix, sorted; none on any error.
func namesOf(ctx context.Context, client metadata.Interface, res why.Resource, ns, prefix string) []string {
	gvr := schema.GroupVersionResource{Group: res.Group, Version: res.Version, Resource: res.Resource}
	var list *metav1.PartialObjectMetadataList
	var err error
	if res.Namespaced {
		list, err = client.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{Limit: 1000})
	} else {
		list, err = client.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1000})
	}
	if err != nil {
		return nil
	}
	var out []string
	for _, o := range list.Items {
		if strings.HasPrefix(o.Name, prefix) {
			out = append(out, o.Name)
		}
	}
	sort.Strings(out)
	return out
}
