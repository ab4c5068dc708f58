// Package notify sends what a scheduled detect run reports to where people
// look: a webhook (JSON of the finding, retried, with an idempotency key
// and an optional HMAC signature), a Slack incoming webhook (a message a
// person can read), Kubernetes Events on the objects a finding is linked
// to, and files (JSON lines, or SARIF).
//
// Network sinks are at-least-once: a report sent again (the run was killed
// after sending, before it could record so) carries the same
// Idempotency-Key. Files and Events are exactly once: a report already in
// the file, or an Event of that deterministic name, is not written again.
//
// It imports detectors, cluster (the Link type), rules and report/sarif;
// never schedule, sources or cmd.
package notify

import (
	"encoding/json"
	"time"

	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

// Phase is what a report says about an incident.
type Phase string

// Phases of an incident.
const (
	// PhaseNew: the incident is reported for the first time.
	PhaseNew Phase = "new"
	// PhaseOngoing: a reported incident is still active (reported only
	// when asked: detect --report ongoing).
	PhaseOngoing Phase = "ongoing"
	// PhaseEnded: a reported incident is over (its next window closed
	// without firing; a whole-input rule's group no longer fires).
	PhaseEnded Phase = "ended"
)

// Report is one thing to tell about one incident. It is what a webhook
// receives as JSON.
type Report struct {
	// Key is the idempotency key: the incident's id for its first report,
	// with -ongoing-<window end> or -ended after it. A report sent again
	// has the same key.
	Key   string `json:"idempotencyKey"`
	Phase Phase  `json:"phase"`
	// Incident is the incident's id: the fingerprint of its first window
	// (rule, key, window start), stable across runs.
	Incident string `json:"incident"`
	// Finding is the incident as last seen: counts summed over its
	// windows, first and last event, the busiest window's values.
	Finding detectors.Finding `json:"finding"`
	// Links are the live objects behind it, when linking was on.
	Links []cluster.Link `json:"links,omitempty"`
	// At is when the run that made the report found it.
	At time.Time `json:"reportedAt"`
	// KeyNames and ValueNames keep the finding's display order.
	KeyNames   []string `json:"keyNames,omitempty"`
	ValueNames []string `json:"valueNames,omitempty"`
}

// NewReport makes a report of a finding.
func NewReport(key string, phase Phase, incident string, f detectors.Finding, links []cluster.Link, at time.Time) Report {
	return Report{Key: key, Phase: phase, Incident: incident, Finding: f, Links: links, At: at.UTC(),
		KeyNames: f.KeyNames, ValueNames: f.ValueNames}
}

// UnmarshalJSON restores the finding's display order and severity level,
// which detectors.Finding does not carry in JSON.
func (r *Report) UnmarshalJSON(b []byte) error {
	type plain Report
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = Report(p)
	r.Finding.KeyNames, r.Finding.ValueNames = r.KeyNames, r.ValueNames
	if lvl, ok := rules.ParseSeverity(r.Finding.Severity); ok {
		r.Finding.Level = lvl
	}
	return nil
}
