package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/detectors"
)

// writeRBAC prints cluster.SuggestRBAC's suggestions as one YAML stream.
func writeRBAC(ctx context.Context, w io.Writer, fs []detectors.Finding, l *cluster.Linker) error {
	var access cluster.AccessChecker
	if l != nil {
		access = l
	}
	sugs, err := cluster.SuggestRBAC(ctx, fs, access)
	if err != nil {
		return err
	}
	if len(sugs) == 0 {
		_, err := fmt.Fprintln(w, "# no RBAC denials to grant")
		return err
	}
	docs := make([]string, len(sugs))
	for i, s := range sugs {
		if docs[i], err = s.YAML(); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintln(w, strings.Join(docs, "\n---\n"))
	return err
}
