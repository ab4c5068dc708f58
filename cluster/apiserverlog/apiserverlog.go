package apiserverlog

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Failure is one "Unable to authenticate the request" line.
type Failure struct {
	// At is the line's time; klog writes no year, so the year is 0 and
	// matching uses the audit event's year.
	At     time.Time
	Reason string
	Line   int
}

// Log holds the authentication failures of an apiserver log.
type Log struct {
	failures  []Failure // sorted by At
	byAuditID map[string]string
	// Lines and HTTPLines count what was read.
	Lines     int
	HTTPLines int
}

var (
	klogHeader = regexp.MustCompile(`^[IWEF](\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6})\s`)
	errField   = regexp.MustCompile(`"Unable to authenticate the request"(?:.*?) err=("(?:[^"\\]|\\.)*")`)
	auditIDRe  = regexp.MustCompile(` audit-ID="([^"]*)"`)
	respRe     = regexp.MustCompile(` resp=(\d+)`)
)

// Window is how far apart in time a failure line and a 401 audit event may
// be to be joined when the log has no audit-IDs.
const Window = 5 * time.Millisecond

// Parse reads a kube-apiserver log. Lines that are not klog lines are
// ignored (the log may hold other output); a log with no klog line at all is
// an error, so a wrong file is not silently taken for an empty one.
func Parse(r io.Reader, name string) (*Log, error) {
	l := &Log{byAuditID: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var pending []int // failures not yet claimed by an HTTP line
	klogLines := 0
	for sc.Scan() {
		l.Lines++
		line := sc.Text()
		m := klogHeader.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		klogLines++
		if strings.Contains(line, `"Unable to authenticate the request"`) {
			em := errField.FindStringSubmatch(line)
			reason := "unknown"
			if em != nil {
				if s, err := strconv.Unquote(em[1]); err == nil {
					reason = cleanReason(s)
				}
			}
			l.failures = append(l.failures, Failure{At: headerTime(m), Reason: reason, Line: l.Lines})
			pending = append(pending, len(l.failures)-1)
			continue
		}
		if strings.Contains(line, `] "HTTP" `) {
			l.HTTPLines++
			rm := respRe.FindStringSubmatch(line)
			if rm == nil || rm[1] != "401" {
				continue
			}
			am := auditIDRe.FindStringSubmatch(line)
			if am == nil || len(pending) == 0 {
				continue
			}
			// The failure is logged by the request's goroutine just before
			// its HTTP line: the latest unclaimed one.
			i := pending[len(pending)-1]
			pending = pending[:len(pending)-1]
			l.byAuditID[am[1]] = l.failures[i].Reason
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: line %d: %w", name, l.Lines+1, err)
	}
	if klogLines == 0 && l.Lines > 0 {
		return nil, fmt.Errorf("%s: not a kube-apiserver log (no klog lines like 'E1125 05:42:34.854030 ...' in %d lines)", name, l.Lines)
	}
	sort.SliceStable(l.failures, func(i, j int) bool { return l.failures[i].At.Before(l.failures[j].At) })
	return l, nil
}

// Failures returns the number of authentication failures read.
func (l *Log) Failures() int { return len(l.failures) }

func headerTime(m []string) time.Time {
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return time.Date(0, time.Month(n(m[1])), n(m[2]), n(m[3]), n(m[4]), n(m[5]), n(m[6])*1000, time.UTC)
}

// cleanReason keeps what matters of the authenticator's error: the
// certificate verification prefix (serial, key ids) is dropped.
// The clock reading of an expiry error changes with every request; the
// certificate's bound is what identifies the cause.
func cleanReason(s string) string {
	if i := strings.Index(s, " failed: "); i >= 0 && strings.HasPrefix(s, "verifying certificate") {
		s = s[i+len(" failed: "):]
	}
	return validity.ReplaceAllString(s, "certificate not valid $1 $2")
}

var validity = regexp.MustCompile(`current time \S+ is (after|before) (\S+)`)

// Reason returns why the 401 with this audit ID and stage time failed, and
// how it was joined ("audit-ID" or "time").
func (l *Log) Reason(auditID string, stageTime time.Time) (string, string) {
	if r, ok := l.byAuditID[auditID]; ok {
		return r, "audit-ID"
	}
	if len(l.failures) == 0 || stageTime.IsZero() {
		return "", ""
	}
	t := stageTime.UTC()
	at := time.Date(0, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	i := sort.Search(len(l.failures), func(i int) bool { return !l.failures[i].At.Before(at) })
	best, bestD := -1, Window+1
	for _, j := range []int{i - 1, i} {
		if j < 0 || j >= len(l.failures) {
			continue
		}
		d := l.failures[j].At.Sub(at)
		if d < 0 {
			d = -d
		}
		if d <= Window && d < bestD {
			best, bestD = j, d
		}
	}
	if best < 0 {
		return "", ""
	}
	return l.failures[best].Reason, "time"
}
