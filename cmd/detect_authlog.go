package cmd

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/kubectl-audit/kubectl-audit/audit"
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

// authJoin wraps a worker's sink: it joins each 401 to its reason in the
// apiserver logs and counts the reasons per source IP.
type authJoin struct {
	inner audit.Sink
	logs  []*apiserverlog.Log
	byIP  map[string]map[string]int
	found int
	total int
}

func (j *authJoin) Event(e *audit.Event) {
	if e.Code == 401 {
		j.total++
		for _, l := range j.logs {
			if r, _ := l.Reason(e.AuditID, e.StageTime); r != "" {
				ip := e.SourceIP()
				if j.byIP[ip] == nil {
					j.byIP[strings.Clone(ip)] = map[string]int{}
				}
				j.byIP[ip][r]++
				j.found++
				break
			}
		}
	}
	j.inner.Event(e)
}

// authReasons collects the joins of all workers.
type authReasons struct {
	mu    sync.Mutex
	joins []*authJoin
}

func (a *authReasons) wrap(newSink func() audit.Sink, logs []*apiserverlog.Log) func() audit.Sink {
	return func() audit.Sink {
		j := &authJoin{inner: newSink(), logs: logs, byIP: map[string]map[string]int{}}
		a.mu.Lock()
		a.joins = append(a.joins, j)
		a.mu.Unlock()
		return j
	}
}

// forIP returns "reason (count)" lines for a source IP, most frequent first.
func (a *authReasons) forIP(ip string) []string {
	counts := map[string]int{}
	for _, j := range a.joins {
		for r, n := range j.byIP[ip] {
			counts[r] += n
		}
	}
	reasons := make([]string, 0, len(counts))
	for r := range counts {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, k int) bool {
		if counts[reasons[i]] != counts[reasons[k]] {
			return counts[reasons[i]] > counts[reasons[k]]
		}
		return reasons[i] < reasons[k]
	})
	out := make([]string, len(reasons))
	for i, r := range reasons {
		out[i] = fmt.Sprintf("%s (%d)", r, counts[r])
	}
	return out
}

func (a *authReasons) totals() (found, total int) {
	for _, j := range a.joins {
		found += j.found
		total += j.total
	}
	return found, total
}
