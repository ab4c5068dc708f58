package cmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kubectl-audit/kubectl-audit/why"
)

func printWhy(w io.Writer, format string, res *WhyResult, owners bool) error {
	switch format {
	case "json", "yaml":
		return writeData(w, format, res)
	}
	printWhyTable(w, res, owners)
	return nil
}

// printWhyTable prints the summary line, one row per call with its details
// indented below, and the object's state now.
func printWhyTable(w io.Writer, res *WhyResult, owners bool) {
	tl := res.Timeline
	fmt.Fprintln(w, tl.Summary)
	if len(tl.OwnerChain) > 0 {
		var parts []string
		for _, o := range tl.OwnerChain {
			parts = append(parts, o.String())
		}
		fmt.Fprintf(w, "owners: %s\n", strings.Join(parts, " ← "))
	}
	if len(tl.Owned) > 0 {
		var parts []string
		for _, o := range tl.Owned {
			parts = append(parts, strings.TrimPrefix(o.String(), ""))
		}
		fmt.Fprintf(w, "owned (in the log): %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)

	header := []string{"TIME"}
	if owners {
		header = append(header, "OBJECT")
	}
	header = append(header, "VERB", "CODE", "USER", "FROM", "AGENT", "AUTHORIZED BY")
	rows := [][]string{header}
	details := [][]string{nil}
	uid := ""
	for i := range tl.Entries {
		e := &tl.Entries[i]
		if e.Relation == why.RelationSelf && len(tl.UIDs) > 1 && e.Object.UID != "" && e.Object.UID != uid {
			uid = e.Object.UID
			rows = append(rows, nil)
			details = append(details, []string{"── object uid " + uid + " ──"})
		}
		row := []string{e.Time.UTC().Format("2006-01-02T15:04:05.000Z")}
		if owners {
			obj := e.Object.String()
			if e.Relation == why.RelationSelf {
				obj = "(this) " + obj
			}
			row = append(row, obj)
		}
		verb := e.Verb
		if e.Subresource != "" {
			verb += " " + e.Subresource
		}
		user := e.User
		if e.Impersonator != "" {
			user += " (as, by " + e.Impersonator + ")"
		}
		if user == "" {
			user = "-"
		}
		row = append(row, verb, strconv.Itoa(e.Code), user, dash(e.SourceIP), dash(e.Program()), dash(e.Authorization.Summary()))
		rows = append(rows, row)
		details = append(details, entryDetails(e))
	}
	widths := make([]int, len(header))
	for _, r := range rows {
		for i, c := range r {
			if n := utf8.RuneCountInString(c); n > widths[i] && i < len(r)-1 {
				widths[i] = n
			}
		}
	}
	for i, r := range rows {
		if r != nil {
			var b strings.Builder
			for j, c := range r {
				b.WriteString(c)
				if j < len(r)-1 {
					b.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(c)+2))
				}
			}
			fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		}
		for _, d := range details[i] {
			if r == nil {
				fmt.Fprintln(w, d)
				continue
			}
			fmt.Fprintln(w, "    "+d)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, liveLine(res))
	for _, l := range res.LiveAuthorization {
		fmt.Fprintf(w, "allowed by (now): %s\n", l)
	}
	for _, l := range res.LiveWebhooks {
		fmt.Fprintf(w, "mutated by (now): %s\n", l)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// entryDetails are the lines under a call: failure, change, webhooks.
func entryDetails(e *why.Entry) []string {
	var out []string
	if e.Code >= 400 && e.Message != "" {
		out = append(out, "failed: "+e.Message)
	}
	if e.BodyHidden != "" {
		out = append(out, "(body hidden: "+e.BodyHidden+"; --show-secrets shows it)")
	}
	for _, c := range e.Changes {
		out = append(out, c.String())
	}
	if e.MoreChanges > 0 {
		out = append(out, fmt.Sprintf("… and %d more fields", e.MoreChanges))
	}
	for _, wh := range e.Webhooks {
		if !wh.Mutated {
			continue
		}
		s := "mutated by webhook " + wh.Webhook + " (configuration " + wh.Configuration + ")"
		if len(wh.Patch) > 0 {
			var ps []string
			for _, c := range wh.Patch {
				ps = append(ps, c.String())
			}
			s += ": " + strings.Join(ps, "; ")
		}
		out = append(out, s)
	}
	return out
}
