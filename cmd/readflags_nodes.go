package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/kubectl-audit/kubectl-audit/sources"
	"github.com/kubectl-audit/kubectl-audit/sources/nodes"
)

// NodeFlags read audit logs straight from control-plane nodes, through the
// API server's node proxy (--from nodes, --from node/NAME).
type NodeFlags struct {
	From     []string
	Selector string
	Paths    []string
	// Cluster gives the client configuration: the command's kubeconfig
	// flags.
	Cluster interface {
		ToRESTConfig() (*rest.Config, error)
	}

	report *nodes.Report
	files  []nodes.File
}

// fromNodes and fromNodePrefix are the --from values this source owns.
const (
	fromNodes      = "nodes"
	fromNodePrefix = "node/"
)

// AddFlags registers the flags.
func (n *NodeFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&n.From, "from", n.From,
		"read from the cluster (repeatable, with or without -f): nodes (every control-plane node, or those of --node-selector) or node/NAME, "+
			"through the API server's node proxy; needs get on nodes/proxy")
	fs.StringVar(&n.Selector, "node-selector", n.Selector,
		"with --from nodes: the label selector of the nodes to read (default "+nodes.ControlPlaneLabel+")")
	fs.StringSliceVar(&n.Paths, "node-path", n.Paths,
		"with --from: the directory or file under /var/log/ to read on each node (repeatable; default the known audit log directories: "+
			strings.Join(nodes.KnownDirs, ", ")+")")
}

// Requested reports whether any node is to be read.
func (n *NodeFlags) Requested() bool { return len(n.From) > 0 }

// options parses --from and checks the flags that need it.
func (n *NodeFlags) options() (nodes.Options, error) {
	var o nodes.Options
	for _, v := range n.From {
		switch {
		case v == fromNodes:
			o.All = true
		case strings.HasPrefix(v, fromNodePrefix) && len(v) > len(fromNodePrefix):
			o.Names = append(o.Names, strings.TrimPrefix(v, fromNodePrefix))
		default:
			return o, fmt.Errorf("--from %q: want nodes or node/NAME", v)
		}
	}
	if len(n.From) == 0 && (n.Selector != "" || len(n.Paths) > 0) {
		return o, errors.New("--node-selector and --node-path need --from nodes or --from node/NAME")
	}
	if n.Selector != "" && !o.All {
		return o, errors.New("--node-selector needs --from nodes")
	}
	o.Selector, o.Paths = n.Selector, n.Paths
	o.Version = Version().Version
	return o, nil
}

// Inputs finds the nodes' audit files, backups outside [since, until)
// left out by their names. A node that cannot be read is remembered for
// the report; only when none can is it an error.
func (n *NodeFlags) Inputs(ctx context.Context, since, until time.Time) ([]sources.Input, error) {
	o, err := n.options()
	if err != nil || !n.Requested() {
		return nil, err
	}
	if n.Cluster == nil {
		return nil, errors.New("--from: no kubeconfig to reach the cluster with")
	}
	cfg, err := n.Cluster.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	o.Since, o.Until = since, until
	files, rep, err := nodes.Discover(ctx, cfg, o)
	n.report = &rep
	if err != nil {
		return nil, err
	}
	n.files = files
	inputs := make([]sources.Input, len(files))
	for i, f := range files {
		inputs[i] = sources.Input{Name: f.Name, Open: f.Open, Origin: f, Size: f.Size}
	}
	return inputs, nil
}

// Failed is the number of nodes that could not be read.
func (n *NodeFlags) Failed() int {
	if n.report == nil {
		return 0
	}
	return len(n.report.Failed())
}

// Report prints why each failed node was not read and, unless quiet, what
// was read from each node, file by file.
func (n *NodeFlags) Report(st *sources.Stats, errOut io.Writer, quiet bool) {
	if n.report == nil {
		return
	}
	byName := map[string]sources.InputStats{}
	for _, in := range st.Inputs {
		byName[in.Name] = in
	}
	for _, nr := range n.report.Nodes {
		if nr.Err != nil {
			fmt.Fprintf(errOut, "warning: node/%s not read: %s\n", nr.Node, strings.TrimPrefix(nr.Err.Error(), "node/"+nr.Node+": "))
			continue
		}
		if quiet {
			continue
		}
		var events, bytes int64
		for _, f := range n.files {
			if f.Node == nr.Node {
				events += byName[f.Name].Events
				bytes += byName[f.Name].Bytes
			}
		}
		pruned := ""
		if len(nr.Pruned) > 0 {
			pruned = fmt.Sprintf(" (%d rotated backup(s) outside --since/--until not fetched)", len(nr.Pruned))
		}
		fmt.Fprintf(errOut, "node/%s: %d file(s), %s, %d events%s\n", nr.Node, len(nr.Files), sources.HumanBytes(bytes), events, pruned)
		for _, f := range n.files {
			if f.Node == nr.Node {
				in := byName[f.Name]
				fmt.Fprintf(errOut, "  %s: %s, %d events\n", f.Path, sources.HumanBytes(in.Bytes), in.Events)
			}
		}
	}
}

// SummarySuffix ends the reading summary with the nodes not read.
func (n *NodeFlags) SummarySuffix() string {
	if f := n.Failed(); f > 0 {
		return fmt.Sprintf(", %d of %d nodes not read", f, len(n.report.Nodes))
	}
	return ""
}
