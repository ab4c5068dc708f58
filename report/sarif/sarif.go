package sarif

import (
	"strings"

	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Log is a SARIF 2.1.0 log, the subset code-scanning tools read.
type Log struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []Run  `json:"runs"`
}

// Run is one run of the tool.
type Run struct {
	Tool    Tool     `json:"tool"`
	Results []Result `json:"results"`
}

// Tool names the tool.
type Tool struct {
	Driver Driver `json:"driver"`
}

// Driver is the tool and its rules.
type Driver struct {
	Name           string `json:"name"`
	Version        string `json:"version,omitempty"`
	InformationURI string `json:"informationUri"`
	Rules          []Rule `json:"rules"`
}

// Text is a message.
type Text struct {
	Text string `json:"text"`
}

// Rule is one detect rule.
type Rule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     Text           `json:"shortDescription"`
	FullDescription      Text           `json:"fullDescription"`
	DefaultConfiguration map[string]any `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

// Result is one finding.
type Result struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             Text              `json:"message"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Locations           []Location        `json:"locations,omitempty"`
	Properties          map[string]any    `json:"properties"`
}

// Location is where the first evidence event was read.
type Location struct {
	PhysicalLocation PhysicalLocation `json:"physicalLocation"`
}

// PhysicalLocation is a file and a byte offset in its decompressed stream.
type PhysicalLocation struct {
	ArtifactLocation map[string]string `json:"artifactLocation"`
	Region           map[string]int64  `json:"region"`
}

// Level maps a severity to SARIF's error, warning or note.
func Level(s rules.Severity) string {
	switch {
	case s >= rules.SeverityHigh:
		return "error"
	case s == rules.SeverityMedium:
		return "warning"
	}
	return "note"
}

// Of turns detect's result into a SARIF log: one rule per selected rule,
// one result per finding, fingerprinted so that code-scanning tools track
// a finding across runs.
func Of(res *detectors.Result, selected []*rules.Rule, version string) Log {
	driver := Driver{Name: "kubectl-audit", Version: version,
		InformationURI: "https://github.com/kubectl-audit/kubectl-audit"}
	index := map[string]int{}
	for i, r := range selected {
		index[r.ID] = i
		desc := oneLine(r.Description)
		if desc == "" {
			desc = r.Title
		}
		driver.Rules = append(driver.Rules, Rule{
			ID: r.ID, Name: r.ID, ShortDescription: Text{r.Title}, FullDescription: Text{desc},
			DefaultConfiguration: map[string]any{"level": Level(r.Severity)},
			Properties:           map[string]any{"tags": append([]string{}, r.Tags...), "severity": r.Severity.String(), "needs": r.Needs},
		})
	}
	run := Run{Tool: Tool{Driver: driver}, Results: []Result{}}
	for _, f := range res.Findings {
		props := map[string]any{"key": f.Key, "count": f.Count, "first": f.First, "last": f.Last, "evidence": f.Evidence}
		if f.Advice != "" {
			props["advice"] = oneLine(f.Advice)
		}
		if f.WindowStart != nil {
			props["windowStart"], props["windowEnd"] = f.WindowStart, f.WindowEnd
		}
		r := Result{RuleID: f.Rule, RuleIndex: index[f.Rule], Level: Level(f.Level),
			Message:             Text{oneLine(f.Summary)},
			PartialFingerprints: map[string]string{"kubectlAudit/v1": f.Fingerprint}, Properties: props}
		if f.Location != nil && f.Location.File != "-" {
			r.Locations = []Location{{PhysicalLocation: PhysicalLocation{
				ArtifactLocation: map[string]string{"uri": f.Location.File},
				Region:           map[string]int64{"byteOffset": f.Location.Offset},
			}}}
		}
		run.Results = append(run.Results, r)
	}
	return Log{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []Run{run}}
}
