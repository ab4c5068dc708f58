package top

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// DefaultMaxGroups is the exact-count budget per table and worker. Past it a
// table turns approximate (heavy hitters) so memory stays bounded.
const DefaultMaxGroups = 100_000

// LatencyPrefix is the annotation prefix of the latency breakdown
// (kube-apiserver adds these to slow requests).
const LatencyPrefix = "apiserver.latency.k8s.io/"

// Options configure an aggregation.
type Options struct {
	// Groupings: one table per grouping, each grouping one or more keys.
	Groupings [][]KeySpec
	// Where filters events; nil keeps all.
	Where *vm.Program
	// Every, if set, keeps a time series per row with this resolution.
	Every        time.Duration
	RawUserAgent bool
	// Latency collects the apiserver.latency.k8s.io/* breakdown.
	Latency   bool
	MaxGroups int
	// ShowSecrets prints what expression keys read from the bodies of
	// secrets, tokens and token reviews; otherwise they print redacted.
	ShowSecrets bool
}

// CompileWhere compiles a --where expression once; errors point at the
// column.
func CompileWhere(src string) (*vm.Program, error) {
	p, err := expr.Compile(src, append(audit.ExprOptions(), expr.AsBool())...)
	if err != nil {
		return nil, fmt.Errorf("--where: %v", err)
	}
	return p, nil
}

// Aggregator is one worker's partial result; it is a audit.Sink.
type Aggregator struct {
	opts      Options
	tables    []*table
	env       *audit.ExprEnv
	machine   vm.VM
	needEnv   bool
	vals      [][]string
	arena     []byte
	keyBuf    []byte
	minT      time.Time
	maxT      time.Time
	count     int64
	errors    int64
	exprErrs  int64
	firstExpr string
	// lat holds every counted request's latency, for the total row.
	lat hist
}

// New returns an empty aggregator for one worker.
func New(opts Options) *Aggregator {
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = DefaultMaxGroups
	}
	a := &Aggregator{opts: opts, env: audit.NewExprEnv(), needEnv: opts.Where != nil}
	for _, g := range opts.Groupings {
		a.tables = append(a.tables, &table{keys: g, rows: map[string]*row{}})
		for _, k := range g {
			if k.program != nil {
				a.needEnv = true
			}
		}
	}
	return a
}

type table struct {
	keys []KeySpec
	rows map[string]*row
	// errorBound is how much any count may be low by, after pruning.
	errorBound int64
	approx     bool
}

type row struct {
	count, errors int64
	lat           hist
	annN          int64
	ann           []component
	series        map[int64]int64
	first, last   time.Time
}

// Event implements audit.Sink.
func (a *Aggregator) Event(e *audit.Event) {
	a.arena = a.arena[:0]
	if a.needEnv {
		a.env.Set(e)
	}
	if a.opts.Where != nil {
		a.env.SetRedact(false) // a filter only tests
		out, err := a.machine.Run(a.opts.Where, a.env)
		if err != nil {
			a.exprError(err)
			return
		}
		if ok, _ := out.(bool); !ok {
			return
		}
	}
	a.env.SetRedact(!a.opts.ShowSecrets) // keys are printed
	a.count++
	isErr := e.IsError()
	if isErr {
		a.errors++
	}
	t := e.Received
	if !t.IsZero() {
		if a.minT.IsZero() || t.Before(a.minT) {
			a.minT = t
		}
		if t.After(a.maxT) {
			a.maxT = t
		}
	}
	var latency time.Duration
	hasLatency := e.Stage == audit.StageResponseComplete && !e.LongRunning() && e.HasLatency()
	if hasLatency {
		latency = e.Latency()
		a.lat.add(latency)
	}
	for _, tb := range a.tables {
		if len(a.vals) < len(tb.keys) {
			a.vals = make([][]string, len(tb.keys))
		}
		ok := true
		for i := range tb.keys {
			v, err := tb.keys[i].values(a.vals[i][:0], e, a.env, &a.machine, a.opts.RawUserAgent, &a.arena)
			if err != nil {
				a.exprError(err)
				ok = false
				break
			}
			a.vals[i] = v
		}
		if !ok {
			continue
		}
		a.product(tb, 0, a.keyBuf[:0], e, isErr, hasLatency, latency)
	}
}

func (a *Aggregator) exprError(err error) {
	a.exprErrs++
	if a.firstExpr == "" {
		a.firstExpr = err.Error()
	}
}

// product visits every combination of key values (a user in 3 groups
// counts once per group).
func (a *Aggregator) product(tb *table, i int, key []byte, e *audit.Event, isErr, hasLatency bool, latency time.Duration) {
	if i == len(tb.keys) {
		// Keep the largest buffer, not the last: with several values
		// per key (groups) a later, shorter key would otherwise hand the
		// next event a buffer too small for the longer one.
		if cap(key) > cap(a.keyBuf) {
			a.keyBuf = key
		}
		a.add(tb, key, e, isErr, hasLatency, latency)
		return
	}
	for _, v := range a.vals[i] {
		k := key
		if i > 0 {
			k = append(k, keySep)
		}
		k = append(k, v...)
		a.product(tb, i+1, k, e, isErr, hasLatency, latency)
	}
}

const keySep = '\x1f'

func (a *Aggregator) add(tb *table, key []byte, e *audit.Event, isErr, hasLatency bool, latency time.Duration) {
	r := tb.rows[string(key)]
	if r == nil {
		if len(tb.rows) >= a.opts.MaxGroups {
			tb.prune()
		}
		r = &row{first: e.Received, last: e.Received}
		tb.rows[string(key)] = r
	}
	r.count++
	if isErr {
		r.errors++
	}
	if e.Received.Before(r.first) {
		r.first = e.Received
	}
	if e.Received.After(r.last) {
		r.last = e.Received
	}
	if hasLatency {
		r.lat.add(latency)
	}
	if a.opts.Latency {
		found := false
		e.VisitAnnotations(func(k, v string) {
			comp, ok := strings.CutPrefix(k, LatencyPrefix)
			if !ok {
				return
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return
			}
			r.addComponent(comp, d.Seconds())
			found = true
		})
		if found {
			r.annN++
		}
	}
	if a.opts.Every > 0 && !e.Received.IsZero() {
		if r.series == nil {
			r.series = map[int64]int64{}
		}
		r.series[bucketOf(e.Received, a.opts.Every)]++
	}
}

// component is one latency breakdown part, summed over a row's requests.
type component struct {
	name    string
	seconds float64
}

// addComponent adds to a component; a slice, not a map, because a row has a
// handful of components and comp is a view into parser memory that must be
// copied only when new.
func (r *row) addComponent(comp string, seconds float64) {
	for i := range r.ann {
		if r.ann[i].name == comp {
			r.ann[i].seconds += seconds
			return
		}
	}
	r.ann = append(r.ann, component{name: strings.Clone(comp), seconds: seconds})
}

func bucketOf(t time.Time, every time.Duration) int64 {
	return t.UnixNano() / int64(every)
}

// prune drops the smaller half of the rows when the table is over budget,
// and remembers the largest count dropped: any surviving or later key may
// have lost up to that many events, so the bound adds up over prunes.
func (tb *table) prune() {
	counts := make([]int64, 0, len(tb.rows))
	for _, r := range tb.rows {
		counts = append(counts, r.count)
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i] < counts[j] })
	threshold := counts[len(counts)/2]
	for k, r := range tb.rows {
		if r.count <= threshold {
			delete(tb.rows, k)
		}
	}
	tb.errorBound += threshold
	tb.approx = true
}

// hist is a log-bucketed latency histogram: 8 buckets per power of two from
// 1 µs, so a quantile is within about 5% of the true value. Adding
// histograms is exact, so merging workers gives the same percentiles as one
// worker.
type hist struct {
	lo     int
	counts []int64
	n      int64
}

const subBuckets = 8

// bucketIndex maps a duration to its bucket: the octave of its microseconds
// (from the bit length) and 8 linear steps inside it, so a bucket is at most
// 1/8 of its value wide. Integer arithmetic only: it runs for every event.
func bucketIndex(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	if us == 0 {
		return 0
	}
	oct := bits.Len64(us) - 1
	var sub uint64
	if oct >= 3 {
		sub = (us >> (oct - 3)) & 7
	} else {
		sub = (us << (3 - oct)) & 7
	}
	return oct*subBuckets + int(sub) + 1
}

// bucketValue is the middle of a bucket.
func bucketValue(i int) time.Duration {
	if i == 0 {
		return time.Microsecond / 2
	}
	i--
	oct, sub := i/subBuckets, i%subBuckets
	lo := math.Ldexp(1+float64(sub)/subBuckets, oct)
	hi := math.Ldexp(1+float64(sub+1)/subBuckets, oct)
	return time.Duration((lo + hi) / 2 * float64(time.Microsecond))
}

func (h *hist) add(d time.Duration) {
	h.addN(bucketIndex(d), 1)
}

func (h *hist) addN(i int, n int64) {
	h.n += n
	if h.counts == nil {
		h.lo = i
		h.counts = make([]int64, 1, 8)
	}
	if i < h.lo {
		grow := h.lo - i
		nc := make([]int64, len(h.counts)+grow)
		copy(nc[grow:], h.counts)
		h.counts, h.lo = nc, i
	}
	for i-h.lo >= len(h.counts) {
		h.counts = append(h.counts, 0)
	}
	h.counts[i-h.lo] += n
}

func (h *hist) merge(o *hist) {
	for j, c := range o.counts {
		if c > 0 {
			h.addN(o.lo+j, c)
		}
	}
}

func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for j, c := range h.counts {
		seen += c
		if seen >= rank {
			return bucketValue(h.lo + j)
		}
	}
	return bucketValue(h.lo + len(h.counts) - 1)
}
