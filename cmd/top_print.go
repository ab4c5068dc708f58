package cmd

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/kubectl-audit/kubectl-audit/report/chart"
	"github.com/kubectl-audit/kubectl-audit/top"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (o *TopOptions) print(res *top.Result) error {
	switch o.Output {
	case "json", "yaml":
		return writeData(o.Out, o.Output, res)
	case "csv":
		return printTopCSV(o.Out, res)
	}
	return o.printTable(res)
}

const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

func (o *TopOptions) color(s, code string) string {
	if o.NoColor || code == "" {
		return s
	}
	return code + s + ansiReset
}

func (o *TopOptions) printTable(res *top.Result) error {
	wide := o.Output == "wide"
	if res.Total.Count == 0 {
		fmt.Fprintln(o.Out, "No events.")
		return nil
	}
	fmt.Fprintf(o.Out, "%s %s requests from %s to %s (%s): %s rps, %s errors\n",
		o.color("TOTAL", ansiBold), groupDigits(res.Total.Count), res.From.Format(time.RFC3339), res.To.Format(time.RFC3339),
		formatSpan(res.Seconds), formatRate(res.Total.RPS), formatPct(res.Total.ErrorRate))
	for _, t := range res.Tables {
		fmt.Fprintln(o.Out)
		if t.Approximate {
			fmt.Fprintf(o.Out, "approximate: more groups than --max-groups, so the smallest were dropped as they came; counts may be low by up to %d\n", t.ErrorBound)
		}
		tw := tabwriter.NewWriter(o.Out, 0, 8, 3, ' ', 0)
		var hdr []string
		for _, b := range t.By {
			hdr = append(hdr, columnOf(b))
		}
		hdr = append(hdr, "COUNT", "RPS", "SHARE", "ERRORS", "P50", "P99")
		if wide {
			hdr = append(hdr, "ERROR-COUNT", "LATENCY-N", "FIRST", "LAST")
		}
		if o.Latency {
			hdr = append(hdr, "SLOW")
			for _, c := range t.LatencyComponents {
				hdr = append(hdr, strings.ToUpper(c))
			}
		}
		if res.Every != "" {
			hdr = append(hdr, "PER "+res.Every)
		}
		live := false
		for _, r := range t.Rows {
			if r.Live != "" {
				live = true
			}
		}
		if live {
			hdr = append(hdr, "LIVE")
		}
		fmt.Fprintln(tw, strings.Join(hdr, "\t"))
		rows := t.Rows
		if t.Other != nil {
			rows = append(rows[:len(rows):len(rows)], *t.Other)
		}
		for i, r := range rows {
			var cells []string
			if t.Other != nil && i == len(rows)-1 {
				cells = append(cells, "<other>")
				for range t.By[1:] {
					cells = append(cells, "")
				}
			} else {
				for _, v := range r.KeyValues() {
					if v == "" {
						v = top.None
					}
					cells = append(cells, v)
				}
			}
			errCell := formatPct(r.ErrorRate)
			switch {
			case r.ErrorRate >= 10:
				errCell = o.color(errCell, ansiRed)
			case r.ErrorRate > 0:
				errCell = o.color(errCell, ansiYellow)
			}
			cells = append(cells, groupDigits(r.Count), formatRate(r.RPS), formatPct(r.Share), errCell, formatMs(r.P50Ms), formatMs(r.P99Ms))
			if wide {
				cells = append(cells, groupDigits(r.Errors), groupDigits(r.LatencySamples), formatTime(r.First), formatTime(r.Last))
			}
			if o.Latency {
				cells = append(cells, groupDigits(r.Slow))
				for _, c := range t.LatencyComponents {
					if v, ok := r.Breakdown[c]; ok {
						cells = append(cells, formatMs(&v))
					} else {
						cells = append(cells, "-")
					}
				}
			}
			if res.Every != "" {
				cells = append(cells, chart.Sparkline(r.Series, 40))
			}
			if live {
				cells = append(cells, r.Live)
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func columnOf(key string) string {
	if strings.HasPrefix(key, "expr:") {
		return "EXPR"
	}
	return strings.ToUpper(key)
}

func printTopCSV(w io.Writer, res *top.Result) error {
	cw := csv.NewWriter(w)
	for ti, t := range res.Tables {
		if ti > 0 {
			cw.Write(nil)
		}
		hdr := append([]string{}, t.By...)
		hdr = append(hdr, "count", "rps", "share", "errors", "error_rate", "p50_ms", "p99_ms", "latency_samples", "first", "last")
		if res.Every != "" {
			hdr = append(hdr, "series")
		}
		if err := cw.Write(hdr); err != nil {
			return err
		}
		rows := t.Rows
		if t.Other != nil {
			rows = append(rows[:len(rows):len(rows)], *t.Other)
		}
		for i, r := range rows {
			var rec []string
			if t.Other != nil && i == len(rows)-1 {
				rec = append(rec, "<other>")
				for range t.By[1:] {
					rec = append(rec, "")
				}
			} else {
				rec = append(rec, r.KeyValues()...)
			}
			rec = append(rec, strconv.FormatInt(r.Count, 10), strconv.FormatFloat(r.RPS, 'f', 4, 64),
				strconv.FormatFloat(r.Share, 'f', 3, 64), strconv.FormatInt(r.Errors, 10), strconv.FormatFloat(r.ErrorRate, 'f', 3, 64),
				csvMs(r.P50Ms), csvMs(r.P99Ms), strconv.FormatInt(r.LatencySamples, 10), csvTime(r.First), csvTime(r.Last))
			if res.Every != "" {
				s := make([]string, len(r.Series))
				for j, v := range r.Series {
					s[j] = strconv.FormatInt(v, 10)
				}
				rec = append(rec, strings.Join(s, " "))
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvMs(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func formatMs(p *float64) string {
	if p == nil {
		return "-"
	}
	v := *p
	switch {
	case v >= 10000:
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + "s"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + "ms"
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(v*1000, 'f', 0, 64) + "µs"
}

func formatRate(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func formatPct(v float64) string {
	if v == 0 {
		return "0%"
	}
	if v < 0.1 {
		return "<0.1%"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + "%"
}

func formatSpan(sec float64) string {
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	return d.String()
}

func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

func writePlot(path string, res *top.Result, every time.Duration) error {
	if len(res.Tables) == 0 {
		return fmt.Errorf("nothing to plot")
	}
	t := res.Tables[0]
	start, _ := time.Parse(time.RFC3339, res.SeriesStart)
	c := chart.Chart{
		Title:  "requests per second by " + strings.Join(t.By, ","),
		Start:  start,
		Step:   every,
		YLabel: "rps",
	}
	n := min(len(t.Rows), 8)
	for _, r := range t.Rows[:n] {
		name := strings.Join(r.KeyValues(), " ")
		if name == "" {
			name = top.None
		}
		vals := make([]float64, len(r.Series))
		for i, v := range r.Series {
			vals[i] = float64(v) / every.Seconds()
		}
		c.Series = append(c.Series, chart.Series{Name: name, Values: vals})
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	format, _ := chart.FormatOf(path)
	if err := c.Render(f, format); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
