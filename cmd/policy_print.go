package cmd

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/kubectl-audit/kubectl-audit/policy"
	"github.com/kubectl-audit/kubectl-audit/report/sarif"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

type policyLintResult struct {
	file     *policy.File
	findings []policy.Finding
}

// policyFindingJSON is a lint finding as -o json prints it.
type policyFindingJSON struct {
	File     string `json:"file"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Rule     int    `json:"rule,omitempty"`
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	Fix      string `json:"fix"`
}

func printPolicyLint(w io.Writer, format string, results []policyLintResult) error {
	switch format {
	case "json":
		out := []policyFindingJSON{}
		for _, r := range results {
			for _, f := range r.findings {
				out = append(out, policyFindingJSON{File: f.Pos.File, Line: f.Pos.Line, Column: f.Pos.Col, Rule: f.Rule,
					Check: f.Check, Severity: f.Severity.String(), Message: f.Message, Fix: f.Fix})
			}
		}
		return writeData(w, "json", out)
	case "sarif":
		return writeData(w, "json", policySARIF(results))
	}
	for _, r := range results {
		counts := map[rules.Severity]int{}
		for _, f := range r.findings {
			counts[f.Severity]++
			fmt.Fprintf(w, "%s  %s  %s  %s\n", f.Pos, f.Severity, f.Check, f.Message)
			fmt.Fprintf(w, "    fix: %s\n", strings.ReplaceAll(f.Fix, "\n", "\n         "))
		}
		if len(r.findings) == 0 {
			fmt.Fprintf(w, "%s: no findings\n", r.file.Name)
			continue
		}
		var parts []string
		for s := rules.SeverityCritical; s >= rules.SeverityInfo; s-- {
			if counts[s] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
			}
		}
		noun := "findings"
		if len(r.findings) == 1 {
			noun = "finding"
		}
		fmt.Fprintf(w, "%s: %d %s (%s)\n", r.file.Name, len(r.findings), noun, strings.Join(parts, ", "))
	}
	return nil
}

// policySARIF is the lint findings as SARIF, with the types detect's
// SARIF uses: one rule per check, a result per finding located by line
// and column.
func policySARIF(results []policyLintResult) sarif.Log {
	driver := sarif.Driver{Name: "kubectl-audit", Version: Version().Version,
		InformationURI: "https://github.com/kubectl-audit/kubectl-audit"}
	index := map[string]int{}
	for i, ch := range policy.Checks {
		index[ch.ID] = i
		driver.Rules = append(driver.Rules, sarif.Rule{ID: ch.ID, Name: ch.ID,
			ShortDescription: sarif.Text{Text: ch.Title}, FullDescription: sarif.Text{Text: ch.Title},
			DefaultConfiguration: map[string]any{"level": "warning"}, Properties: map[string]any{"tags": []string{"audit-policy"}}})
	}
	run := sarif.Run{Tool: sarif.Tool{Driver: driver}, Results: []sarif.Result{}}
	for _, r := range results {
		for _, f := range r.findings {
			sum := sha256.Sum256([]byte(f.Check + "\x00" + f.Pos.File + "\x00" + f.Message))
			region := map[string]int64{}
			if f.Pos.Line > 0 {
				region["startLine"] = int64(f.Pos.Line)
			}
			if f.Pos.Col > 0 {
				region["startColumn"] = int64(f.Pos.Col)
			}
			props := map[string]any{"severity": f.Severity.String(), "fix": f.Fix}
			if f.Rule > 0 {
				props["policyRule"] = f.Rule
			}
			run.Results = append(run.Results, sarif.Result{RuleID: f.Check, RuleIndex: index[f.Check], Level: sarif.Level(f.Severity),
				Message:             sarif.Text{Text: f.Message + " Fix: " + f.Fix},
				PartialFingerprints: map[string]string{"kubectlAudit/v1": hex.EncodeToString(sum[:8])},
				Locations: []sarif.Location{{PhysicalLocation: sarif.PhysicalLocation{
					ArtifactLocation: map[string]string{"uri": f.Pos.File}, Region: region}}},
				Properties: props})
		}
	}
	return sarif.Log{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarif.Run{run}}
}

func printPolicySimulation(w io.Writer, format string, res *policy.Result, limit int) error {
	if format != "table" {
		return writeData(w, format, res)
	}
	t := res.Total
	fmt.Fprintf(w, "%s over %d requests from %s to %s (%s)\n", res.Policy, t.Requests,
		res.From.Format("2006-01-02T15:04:05Z"), res.To.Format("2006-01-02T15:04:05Z"), res.Span.Round(1e9))
	fmt.Fprintf(w, "  log:    %d events, %s/s, %s/day\n", t.Log.Events, num(t.Log.EventsPerSecond), sources.HumanBytes(int64(t.Log.BytesPerDay)))
	fmt.Fprintf(w, "  policy: %d events, %s/s, %s/day%s  (%s bytes)\n", t.Policy.Events, num(t.Policy.EventsPerSecond),
		sources.HumanBytes(int64(t.Policy.BytesPerDay)), estimated(t.Policy), change(t.Log.Bytes, t.Policy.Bytes))
	table := func(title string, rows []policy.Row, n int) {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tREQUESTS\tLOG EVENTS\tLOG EV/S\tLOG BYTES/DAY\tPOLICY EVENTS\tPOLICY EV/S\tPOLICY BYTES/DAY\tBYTES\n", title)
		shown := rows
		if n > 0 && len(rows) > n {
			shown = rows[:n]
		}
		for _, r := range shown {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%s\t%s%s\t%s\n", r.Key, r.Requests,
				r.Log.Events, num(r.Log.EventsPerSecond), sources.HumanBytes(int64(r.Log.BytesPerDay)),
				r.Policy.Events, num(r.Policy.EventsPerSecond), tilde(r.Policy), sources.HumanBytes(int64(r.Policy.BytesPerDay)),
				change(r.Log.Bytes, r.Policy.Bytes))
		}
		if len(shown) < len(rows) {
			fmt.Fprintf(tw, "(%d more)\t\t\t\t\t\t\t\t\n", len(rows)-len(shown))
		}
		_ = tw.Flush()
	}
	table("LEVEL", res.ByLevel, 0)
	table("POLICY RULE", res.ByRule, 0)
	table("RESOURCE", res.ByResource, limit)
	table("USER", res.ByUser, limit)

	fmt.Fprintln(w)
	if res.StoppedTotal == 0 {
		fmt.Fprintln(w, "stops logging: nothing (every request of the log is still logged)")
	} else {
		fmt.Fprintf(w, "stops logging %d requests:\n", res.StoppedTotal)
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "REQUESTS\tVERB\tRESOURCE\tUSER\tDECIDED BY")
		shown := res.Stopped
		if limit > 0 && len(shown) > limit {
			shown = shown[:limit]
		}
		for _, s := range shown {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.Requests, s.Verb, s.Resource, s.User, s.Rule)
		}
		if len(shown) < len(res.Stopped) {
			fmt.Fprintf(tw, "(%d more)\t\t\t\t\n", len(res.Stopped)-len(shown))
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(w)
	if len(res.Detectors) == 0 {
		fmt.Fprintln(w, "detectors: no shipped rule would see less or more")
	}
	for _, d := range res.Detectors {
		fmt.Fprintf(w, "detectors: %s\n", d.Message)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func num(f float64) string {
	switch {
	case f == 0:
		return "0"
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 1:
		return fmt.Sprintf("%.1f", f)
	}
	return fmt.Sprintf("%.3f", f)
}

// tilde marks a figure that holds estimates.
func tilde(c policy.Cost) string {
	if c.EstimatedBytes > 0 {
		return "~"
	}
	return ""
}

func estimated(c policy.Cost) string {
	if c.EstimatedBytes == 0 || c.Bytes == 0 {
		return ""
	}
	return fmt.Sprintf(" (estimate: %.0f%% of the bytes)", math.Round(100*float64(c.EstimatedBytes)/float64(c.Bytes)))
}

func change(from, to int64) string {
	switch {
	case from == 0 && to == 0:
		return "="
	case from == 0:
		return "new"
	}
	pct := 100 * (float64(to) - float64(from)) / float64(from)
	if math.Abs(pct) < 0.5 {
		return "="
	}
	return fmt.Sprintf("%+.0f%%", pct)
}
