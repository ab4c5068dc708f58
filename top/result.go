package top

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Sort columns for --sort.
const (
	SortCount  = "count"
	SortRPS    = "rps"
	SortShare  = "share"
	SortErrors = "errors"
	SortErrPct = "error%"
	SortP50    = "p50"
	SortP99    = "p99"
	SortKey    = "key"
)

// SortColumns lists valid --sort values.
var SortColumns = []string{SortCount, SortRPS, SortShare, SortErrors, SortErrPct, SortP50, SortP99, SortKey}

// Result is what `top` prints. Field names are stable (JSON/YAML output).
type Result struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Seconds float64   `json:"seconds"`
	Total   Row       `json:"total"`
	Tables  []Table   `json:"tables"`
	// ExprErrors counts events an expression failed on (they are left out).
	ExprErrors    int64  `json:"exprErrors,omitempty"`
	FirstExprErr  string `json:"firstExprError,omitempty"`
	Every         string `json:"every,omitempty"`
	SeriesStart   string `json:"seriesStart,omitempty"`
	SeriesBuckets int    `json:"seriesBuckets,omitempty"`
}

// Table is one grouping.
type Table struct {
	By []string `json:"by"`
	// Approximate is set when the table went over its group budget: counts
	// may be low by up to ErrorBound.
	Approximate bool  `json:"approximate,omitempty"`
	ErrorBound  int64 `json:"errorBound,omitempty"`
	Groups      int   `json:"groups"`
	Rows        []Row `json:"rows"`
	// Other sums the rows beyond --limit, so shares add up to 100%.
	Other *Row `json:"other,omitempty"`
	// LatencyComponents are the breakdown columns present, most time first.
	LatencyComponents []string `json:"latencyComponents,omitempty"`
}

// Row is one group.
type Row struct {
	Key       map[string]string `json:"key,omitempty"`
	Count     int64             `json:"count"`
	RPS       float64           `json:"rps"`
	Share     float64           `json:"share"`
	Errors    int64             `json:"errors"`
	ErrorRate float64           `json:"errorRate"`
	// Latency percentiles in milliseconds, over ResponseComplete events of
	// requests that are not long-running; absent when there are none.
	LatencySamples int64    `json:"latencySamples"`
	P50Ms          *float64 `json:"p50Ms,omitempty"`
	P99Ms          *float64 `json:"p99Ms,omitempty"`
	// Slow counts requests with a latency breakdown; Breakdown is the mean
	// of each component over them, in milliseconds.
	Slow      int64              `json:"slow,omitempty"`
	Breakdown map[string]float64 `json:"breakdownMs,omitempty"`
	First     *time.Time         `json:"first,omitempty"`
	Last      *time.Time         `json:"last,omitempty"`
	Series    []int64            `json:"series,omitempty"`
	// Live is the live object behind the row's key (the Node behind a
	// source IP, a service account's pods...), when a cluster is reachable.
	Live string `json:"live,omitempty"`

	keyVals []string
	r       *row
}

// KeyValues returns the row's key values in the table's key order.
func (r *Row) KeyValues() []string { return r.keyVals }

// MergeOptions shape the final tables.
type MergeOptions struct {
	Sort  string
	Limit int
}

// Merge combines the workers' aggregators into the result. It does not
// depend on how events were split among them.
func Merge(aggs []*Aggregator, mo MergeOptions) (*Result, error) {
	if len(aggs) == 0 {
		return &Result{}, nil
	}
	if mo.Sort == "" {
		mo.Sort = SortCount
	}
	opts := aggs[0].opts
	res := &Result{}
	var count, errs int64
	var minT, maxT time.Time
	var lat hist
	for _, a := range aggs {
		lat.merge(&a.lat)
		count += a.count
		errs += a.errors
		res.ExprErrors += a.exprErrs
		if a.firstExpr != "" && (res.FirstExprErr == "" || a.firstExpr < res.FirstExprErr) {
			res.FirstExprErr = a.firstExpr
		}
		if !a.minT.IsZero() && (minT.IsZero() || a.minT.Before(minT)) {
			minT = a.minT
		}
		if a.maxT.After(maxT) {
			maxT = a.maxT
		}
	}
	res.From, res.To = minT, maxT
	span := maxT.Sub(minT).Seconds()
	if span < 1 {
		span = 1
	}
	res.Seconds = span
	res.Total = Row{Count: count, Errors: errs, RPS: float64(count) / span, Share: 100}
	if count > 0 {
		res.Total.ErrorRate = 100 * float64(errs) / float64(count)
	}
	res.Total.LatencySamples = lat.n
	if lat.n > 0 {
		p50, p99 := ms(lat.quantile(0.50)), ms(lat.quantile(0.99))
		res.Total.P50Ms, res.Total.P99Ms = &p50, &p99
	}
	var b0, b1 int64
	if opts.Every > 0 && !minT.IsZero() {
		b0, b1 = bucketOf(minT, opts.Every), bucketOf(maxT, opts.Every)
		res.Every = opts.Every.String()
		res.SeriesStart = time.Unix(0, b0*int64(opts.Every)).UTC().Format(time.RFC3339)
		res.SeriesBuckets = int(b1-b0) + 1
	}
	for ti, keys := range opts.Groupings {
		merged := map[string]*row{}
		t := Table{}
		for _, k := range keys {
			t.By = append(t.By, k.Name)
		}
		for _, a := range aggs {
			tb := a.tables[ti]
			if tb.approx {
				t.Approximate = true
				t.ErrorBound += tb.errorBound
			}
			for k, r := range tb.rows {
				m := merged[k]
				if m == nil {
					m = &row{first: r.first, last: r.last}
					merged[k] = m
				}
				m.mergeFrom(r)
			}
		}
		t.Groups = len(merged)
		rows := make([]Row, 0, len(merged))
		comps := map[string]float64{}
		for k, r := range merged {
			rows = append(rows, makeRow(keys, k, r, count, span, opts, b0, b1))
			for _, c := range r.ann {
				comps[c.name] += c.seconds
			}
		}
		if err := sortRows(rows, mo.Sort); err != nil {
			return nil, err
		}
		if mo.Limit > 0 && len(rows) > mo.Limit {
			other := &row{}
			for _, r := range rows[mo.Limit:] {
				other.mergeFrom(r.r)
			}
			o := makeRow(nil, "", other, count, span, opts, b0, b1)
			o.Key = nil
			t.Other = &o
			rows = rows[:mo.Limit]
		}
		t.Rows = rows
		for c := range comps {
			t.LatencyComponents = append(t.LatencyComponents, c)
		}
		sort.Slice(t.LatencyComponents, func(i, j int) bool {
			ci, cj := t.LatencyComponents[i], t.LatencyComponents[j]
			if comps[ci] != comps[cj] {
				return comps[ci] > comps[cj]
			}
			return ci < cj
		})
		res.Tables = append(res.Tables, t)
	}
	return res, nil
}

func (m *row) mergeFrom(r *row) {
	m.count += r.count
	m.errors += r.errors
	m.lat.merge(&r.lat)
	m.annN += r.annN
	for _, c := range r.ann {
		m.addComponent(c.name, c.seconds)
	}
	for b, v := range r.series {
		if m.series == nil {
			m.series = map[int64]int64{}
		}
		m.series[b] += v
	}
	if m.first.IsZero() || (!r.first.IsZero() && r.first.Before(m.first)) {
		m.first = r.first
	}
	if r.last.After(m.last) {
		m.last = r.last
	}
}

func makeRow(keys []KeySpec, key string, r *row, total int64, span float64, opts Options, b0, b1 int64) Row {
	out := Row{Count: r.count, Errors: r.errors, RPS: float64(r.count) / span, r: r}
	if len(keys) > 0 {
		out.keyVals = strings.Split(key, string(keySep))
		out.Key = map[string]string{}
		for i, k := range keys {
			v := ""
			if i < len(out.keyVals) {
				v = out.keyVals[i]
			}
			out.Key[k.Name] = v
		}
	}
	if total > 0 {
		out.Share = 100 * float64(r.count) / float64(total)
	}
	if r.count > 0 {
		out.ErrorRate = 100 * float64(r.errors) / float64(r.count)
	}
	out.LatencySamples = r.lat.n
	if r.lat.n > 0 {
		p50 := ms(r.lat.quantile(0.50))
		p99 := ms(r.lat.quantile(0.99))
		out.P50Ms, out.P99Ms = &p50, &p99
	}
	if r.annN > 0 {
		out.Slow = r.annN
		out.Breakdown = map[string]float64{}
		for _, c := range r.ann {
			out.Breakdown[c.name] = roundMs(c.seconds * 1000 / float64(r.annN))
		}
	}
	if !r.first.IsZero() {
		f, l := r.first, r.last
		out.First, out.Last = &f, &l
	}
	if opts.Every > 0 && b1 >= b0 {
		out.Series = make([]int64, b1-b0+1)
		for b, v := range r.series {
			if b >= b0 && b <= b1 {
				out.Series[b-b0] += v
			}
		}
	}
	return out
}

func ms(d time.Duration) float64 { return roundMs(float64(d) / float64(time.Millisecond)) }

func roundMs(v float64) float64 {
	switch {
	case v >= 100:
		return float64(int64(v + 0.5))
	case v >= 1:
		return float64(int64(v*10+0.5)) / 10
	}
	return float64(int64(v*1000+0.5)) / 1000
}

func sortRows(rows []Row, by string) error {
	var less func(a, b *Row) (bool, bool) // (less, decided)
	num := func(f func(r *Row) float64) func(a, b *Row) (bool, bool) {
		return func(a, b *Row) (bool, bool) {
			x, y := f(a), f(b)
			if x != y {
				return x > y, true
			}
			return false, false
		}
	}
	pct := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return *p
	}
	switch by {
	case SortCount, SortRPS, SortShare:
		less = num(func(r *Row) float64 { return float64(r.Count) })
	case SortErrors:
		less = num(func(r *Row) float64 { return float64(r.Errors) })
	case SortErrPct:
		less = num(func(r *Row) float64 { return r.ErrorRate })
	case SortP50:
		less = num(func(r *Row) float64 { return pct(r.P50Ms) })
	case SortP99:
		less = num(func(r *Row) float64 { return pct(r.P99Ms) })
	case SortKey:
		less = func(a, b *Row) (bool, bool) { return false, false }
	default:
		return fmt.Errorf("--sort: unknown column %q (want %s)", by, strings.Join(SortColumns, ", "))
	}
	sort.Slice(rows, func(i, j int) bool {
		if l, ok := less(&rows[i], &rows[j]); ok {
			return l
		}
		if by != SortKey && rows[i].Count != rows[j].Count {
			return rows[i].Count > rows[j].Count
		}
		return strings.Join(rows[i].keyVals, "\x00") < strings.Join(rows[j].keyVals, "\x00")
	})
	return nil
}
