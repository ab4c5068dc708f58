package apiserverlog

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// Joiner joins each 401 audit event to the reason kube-apiserver logged for
// it, and counts the reasons per source IP and second, so that a finding can
// be told the reasons of its own 401s (its source IP, its time range), not
// those of every 401 from that address.
type Joiner struct {
	logs  []*Log
	mu    sync.Mutex
	sinks []*joinSink
}

// NewJoiner returns a Joiner over the parsed apiserver logs.
func NewJoiner(logs []*Log) *Joiner { return &Joiner{logs: logs} }

type reasonAt struct {
	ip     string
	second int64
	reason string
}

// joinSink wraps one worker's sink; it sees that worker's events only.
type joinSink struct {
	inner  audit.Sink
	logs   []*Log
	counts map[reasonAt]int
	found  int
	total  int
}

// Wrap returns a newSink for sources.Read that joins events on their way
// to the sinks newSink makes.
func (j *Joiner) Wrap(newSink func() audit.Sink) func() audit.Sink {
	return func() audit.Sink {
		s := &joinSink{inner: newSink(), logs: j.logs, counts: map[reasonAt]int{}}
		j.mu.Lock()
		j.sinks = append(j.sinks, s)
		j.mu.Unlock()
		return s
	}
}

// ReadThrough passes the reader's progress on (sources.ReadThrougher).
func (s *joinSink) ReadThrough(t time.Time) {
	if r, ok := s.inner.(interface{ ReadThrough(time.Time) }); ok {
		r.ReadThrough(t)
	}
}

func (s *joinSink) Event(e *audit.Event) {
	if e.Code == 401 {
		s.total++
		for _, l := range s.logs {
			if r, _ := l.Reason(e.AuditID, e.StageTime); r != "" {
				s.counts[reasonAt{strings.Clone(e.SourceIP()), e.Received.Unix(), r}]++
				s.found++
				break
			}
		}
	}
	s.inner.Event(e)
}

// Reasons returns "reason (count)" for the 401s from ip received in
// [first, last] (to the second), most frequent first; ip "" means any.
func (j *Joiner) Reasons(ip string, first, last time.Time) []string {
	counts := map[string]int{}
	from, to := first.Unix(), last.Unix()
	for _, s := range j.sinks {
		for k, n := range s.counts {
			if (ip == "" || k.ip == ip) && k.second >= from && k.second <= to {
				counts[k.reason] += n
			}
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

// Totals returns how many 401s were read and how many were joined.
func (j *Joiner) Totals() (found, total int) {
	for _, s := range j.sinks {
		found += s.found
		total += s.total
	}
	return found, total
}
