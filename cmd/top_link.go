package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/top"
)

// link fills each row's Live column from its first key that names
// something in the cluster: a source IP, a node, a service account or a
// user. The linker lists each resource type once for the whole run.
func (o *TopOptions) link(ctx context.Context, res *top.Result) {
	linkable := false
	for _, t := range res.Tables {
		if linkKey(t.By) >= 0 {
			linkable = true
		}
	}
	if !linkable {
		return
	}
	l := cluster.New(o.configFlags, cluster.Options{})
	if ok, why := l.Available(); !ok {
		// Without any kubeconfig top is a log tool: say nothing. A
		// configured cluster that cannot be reached is worth a line.
		if why != cluster.NoCluster {
			fmt.Fprintf(o.ErrOut, "not linked: %s\n", why)
		}
		return
	}
	for ti := range res.Tables {
		t := &res.Tables[ti]
		k := linkKey(t.By)
		if k < 0 {
			continue
		}
		for ri := range t.Rows {
			r := &t.Rows[ri]
			vals := r.KeyValues()
			if k >= len(vals) || vals[k] == "" {
				continue
			}
			if link, ok := linkFor(ctx, l, t.By[k], vals[k]); ok {
				r.Live = link.String()
			}
		}
	}
}

func linkKey(by []string) int {
	for i, k := range by {
		switch k {
		case top.KeySourceIP, top.KeyNode, top.KeyServiceAccount, top.KeyUser:
			return i
		}
	}
	return -1
}

func linkFor(ctx context.Context, l *cluster.Linker, key, value string) (cluster.Link, bool) {
	switch key {
	case top.KeySourceIP:
		return l.SourceIP(ctx, value), true
	case top.KeyNode:
		if value == "unknown" {
			return cluster.Link{}, false
		}
		return l.Node(ctx, value), true
	case top.KeyServiceAccount:
		ns, name, ok := strings.Cut(value, "/")
		if !ok {
			return cluster.Link{}, false
		}
		return l.ServiceAccount(ctx, ns, name), true
	case top.KeyUser:
		if links := l.User(ctx, value, ""); len(links) > 0 {
			return links[0], true
		}
	}
	return cluster.Link{}, false
}
