package cmd

import (
	"fmt"

	"github.com/kubectl-audit/kubectl-audit/cluster/apiserverlog"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// loadAPIServerLogs reads --apiserver-log files.
func loadAPIServerLogs(paths []string) ([]*apiserverlog.Log, error) {
	var logs []*apiserverlog.Log
	for _, p := range paths {
		rc, err := sources.OpenDecompressed(p)
		if err != nil {
			return nil, fmt.Errorf("--apiserver-log: %w", err)
		}
		l, err := apiserverlog.Parse(rc, p)
		_ = rc.Close()
		if err != nil {
			return nil, fmt.Errorf("--apiserver-log: %w", err)
		}
		logs = append(logs, l)
	}
	return logs, nil
}
