package rules

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Severity orders findings.
type Severity int

// Severities, lowest first.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses info, low, medium, high or critical.
func ParseSeverity(s string) (Severity, bool) {
	for i, n := range severityNames {
		if n == s {
			return Severity(i), true
		}
	}
	return 0, false
}

// SeverityNames lists the severities, lowest first.
func SeverityNames() []string { return append([]string(nil), severityNames...) }

// Pos is a place in a rule file; Line and Col are 1-based.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem in a rule file.
type Error struct {
	Pos
	// Rule is the rule's id, when known.
	Rule string
	Msg  string
}

func (e *Error) Error() string {
	if e.Rule != "" {
		return fmt.Sprintf("%s: rule %q: %s", e.Pos, e.Rule, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
}

// ErrorList is every problem found in one or more files, sorted by place.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Sort orders the list by file, line, column.
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Err returns the list as an error, or nil when empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.Sort()
	return l
}

// Window is how a rule cuts time. A zero Size means the whole input.
// Slide < Size makes sliding windows; otherwise windows tumble.
type Window struct {
	Size  time.Duration
	Slide time.Duration
}

// Whole reports a rule evaluated once over the whole input.
func (w Window) Whole() bool { return w.Size == 0 }

// Sliding reports overlapping windows.
func (w Window) Sliding() bool { return w.Slide > 0 && w.Slide < w.Size }

func (w Window) String() string {
	switch {
	case w.Whole():
		return "whole input"
	case w.Sliding():
		return fmt.Sprintf("%s every %s", shortDuration(w.Size), shortDuration(w.Slide))
	}
	return shortDuration(w.Size)
}

func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// NamedExpr is a named expression with its place in the file.
type NamedExpr struct {
	Name string
	Expr string
	Pos  exprPos
}

// Rule is one detect rule as written, plus its compiled form once
// Compile has succeeded.
type Rule struct {
	ID          string
	Title       string
	Description string
	Severity    Severity
	// Needs is the lowest audit level the rule can see (Metadata, Request,
	// RequestResponse).
	Needs   string
	Tags    []string
	Enabled bool
	Match   string
	GroupBy []NamedExpr
	Window  Window
	When    string
	Values  []NamedExpr
	Summary string
	Advice  string

	// Pos is where the rule starts; its File is the file's name as loaded
	// ("builtin/talk.yaml" for shipped rules).
	Pos Pos
	// Override marks an entry that only sets enabled for a rule defined
	// elsewhere (a shipped one).
	Override bool
	// Builtin marks shipped rules.
	Builtin bool

	// Text is the rule's lines as written in its file, for `rules show`.
	Text string

	matchPos, whenPos, summaryPos, advicePos exprPos

	compiled *Compiled
}

// Compiled returns the compiled rule, or nil before Compile.
func (r *Rule) Compiled() *Compiled { return r.compiled }
