package notify

import (
	"fmt"
	"strings"
	"time"
)

// SlackMessage is the incoming-webhook payload of a report: one message a
// person can act on — severity, rule and phase, the summary, the subject
// (the finding's key), the live objects behind it, the advice, and when.
func SlackMessage(r Report) map[string]any {
	f := r.Finding
	var head string
	switch r.Phase {
	case PhaseEnded:
		head = fmt.Sprintf(":white_check_mark: *%s* ended", slackEscape(f.Rule))
	case PhaseOngoing:
		head = fmt.Sprintf("%s *%s* · *%s* · still active", severityEmoji(f.Severity), strings.ToUpper(f.Severity), slackEscape(f.Rule))
	default:
		head = fmt.Sprintf("%s *%s* · *%s* · new incident", severityEmoji(f.Severity), strings.ToUpper(f.Severity), slackEscape(f.Rule))
	}
	lines := []string{head, slackEscape(oneLine(f.Summary))}
	if k := f.KeyString(); k != "" {
		lines = append(lines, "*Subject:* "+slackEscape(k))
	}
	var linked []string
	for _, l := range r.Links {
		linked = append(linked, slackEscape(l.String()))
	}
	if len(linked) > 0 {
		lines = append(lines, "*Linked:* "+strings.Join(linked, "; "))
	}
	if f.Advice != "" && r.Phase != PhaseEnded {
		lines = append(lines, "*Advice:* "+slackEscape(oneLine(f.Advice)))
	}
	when := fmt.Sprintf("*When:* %s – %s · %d events", f.First.UTC().Format(time.RFC3339), f.Last.UTC().Format(time.RFC3339), f.Count)
	lines = append(lines, when)
	text := strings.Join(lines, "\n")
	context := fmt.Sprintf("kubectl audit detect · %s · incident %s", f.Title, r.Incident)
	if r.Key != r.Incident {
		context += " · " + r.Key
	}
	return map[string]any{
		"text": text,
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}},
			map[string]any{"type": "context", "elements": []any{
				map[string]any{"type": "mrkdwn", "text": context},
			}},
		},
	}
}

func severityEmoji(s string) string {
	switch s {
	case "critical":
		return ":rotating_light:"
	case "high":
		return ":red_circle:"
	case "medium":
		return ":large_orange_circle:"
	case "low":
		return ":large_yellow_circle:"
	}
	return ":information_source:"
}

// slackEscape escapes what Slack's mrkdwn gives meaning to.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
