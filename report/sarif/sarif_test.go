package sarif

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

func TestOf(t *testing.T) {
	at := time.Date(2026, 11, 25, 5, 42, 34, 0, time.UTC)
	selected := []*rules.Rule{
		{ID: "a", Title: "A", Severity: rules.SeverityHigh, Description: " two\n lines "},
		{ID: "b", Title: "B", Severity: rules.SeverityLow},
	}
	res := &detectors.Result{Findings: []detectors.Finding{
		{Rule: "b", Level: rules.SeverityLow, Summary: "x\n y", Fingerprint: "fp1", First: at, Last: at,
			Location: &detectors.Location{File: "audit.log", Offset: 42}},
		{Rule: "a", Level: rules.SeverityHigh, Summary: "z", Fingerprint: "fp2", First: at, Last: at,
			Location: &detectors.Location{File: "-"}},
	}}
	log := Of(res, selected, "v1.2.3")
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		t.Fatalf("log: %+v", log)
	}
	run := log.Runs[0]
	if run.Tool.Driver.Version != "v1.2.3" || len(run.Tool.Driver.Rules) != 2 || run.Tool.Driver.Rules[0].FullDescription.Text != "two lines" {
		t.Errorf("driver: %+v", run.Tool.Driver)
	}
	tests := []struct {
		ruleIndex int
		level     string
		message   string
		locations int
	}{
		{1, "note", "x y", 1},
		{0, "error", "z", 0}, // stdin has no artifact to point at
	}
	for i, tt := range tests {
		r := run.Results[i]
		if r.RuleIndex != tt.ruleIndex || r.Level != tt.level || r.Message.Text != tt.message || len(r.Locations) != tt.locations {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if _, err := json.Marshal(log); err != nil {
		t.Fatal(err)
	}
	if Level(rules.SeverityMedium) != "warning" || Level(rules.SeverityCritical) != "error" || Level(rules.SeverityInfo) != "note" {
		t.Error("Level mapping")
	}
}
