package cmd

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/detectors"
)

// linkedResult is detect's result with each finding tied to the live
// objects behind it. Field names extend detectors.Result's.
type linkedResult struct {
	*detectors.Result
	Findings []linkedFinding `json:"findings"`
}

type linkedFinding struct {
	detectors.Finding
	Links []cluster.Link `json:"links,omitempty"`
	// LinkStatus says why a finding has no links ("not linked: no cluster").
	LinkStatus string `json:"linkStatus,omitempty"`
	// AuthenticationErrors are the reasons kube-apiserver logged for the
	// finding's 401s (--apiserver-log), with counts.
	AuthenticationErrors []string `json:"authenticationErrors,omitempty"`
}

// linkFindings ties each finding to the live objects behind it
// (cluster.Linker.LinksFor), or says why it is not linked.
func linkFindings(ctx context.Context, l *cluster.Linker, fs []detectors.Finding) []linkedFinding {
	out := make([]linkedFinding, len(fs))
	ok, why := false, "--no-link"
	if l != nil {
		ok, why = l.Available()
	}
	for i, f := range fs {
		out[i].Finding = f
		if l == nil {
			continue
		}
		if !ok {
			out[i].LinkStatus = "not linked: " + why
			continue
		}
		out[i].Links = l.LinksFor(ctx, f.Key, f.Values)
		if len(out[i].Links) == 0 {
			out[i].LinkStatus = "nothing to link"
		}
	}
	return out
}

// printLinks writes the linked objects of each finding after the table.
func printLinks(w io.Writer, fs []linkedFinding) {
	var lines, auth []string
	notLinked := map[string]bool{}
	for _, f := range fs {
		for _, a := range f.AuthenticationErrors {
			auth = append(auth, fmt.Sprintf("  %s %s: %s", f.Rule, f.KeyString(), a))
		}
		if strings.HasPrefix(f.LinkStatus, "not linked") {
			notLinked[f.LinkStatus] = true
			continue
		}
		for _, l := range f.Links {
			lines = append(lines, fmt.Sprintf("  %s %s → %s", f.Rule, f.KeyString(), l.String()))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "LIVE OBJECTS")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
	if len(auth) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "WHY AUTHENTICATION FAILED (kube-apiserver log)")
		for _, l := range auth {
			fmt.Fprintln(w, l)
		}
	}
	var reasons []string
	for r := range notLinked {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "\nfindings %s\n", r)
	}
}
