package detectors

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

// Finding is one group for which a rule's when held.
type Finding struct {
	Rule     string `json:"rule"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	// Key is the group: the rule's group_by names and their values.
	Key   map[string]string `json:"key,omitempty"`
	Count int64             `json:"count"`
	First time.Time         `json:"first"`
	Last  time.Time         `json:"last"`
	// WindowStart and WindowEnd are unset for whole-input rules.
	WindowStart *time.Time `json:"windowStart,omitempty"`
	WindowEnd   *time.Time `json:"windowEnd,omitempty"`
	// Windows is how many consecutive windows the incident held (see
	// incidents); Peak is the busiest of them, when there are several.
	Windows int   `json:"windows,omitempty"`
	Peak    *Peak `json:"peak,omitempty"`
	// Fingerprint is stable across runs and input splits: rule, key and
	// the start of the incident's first window.
	Fingerprint string `json:"fingerprint"`
	// Evidence are the earliest auditIDs of the group.
	Evidence []string `json:"evidence"`
	// Location is where the first evidence event was read.
	Location *Location      `json:"location,omitempty"`
	Values   map[string]any `json:"values,omitempty"`
	Summary  string         `json:"summary"`
	Advice   string         `json:"advice,omitempty"`

	// KeyNames is the group_by order, for display.
	KeyNames []string `json:"-"`
	// Level is Severity as a value.
	Level rules.Severity `json:"-"`
	// ValueNames is the values order, for display.
	ValueNames []string `json:"-"`
}

// Location is an input and a byte offset in its decompressed stream.
type Location struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
}

// KeyString is the key as name=value pairs in group_by order.
func (f *Finding) KeyString() string {
	parts := make([]string, 0, len(f.KeyNames))
	for _, n := range f.KeyNames {
		parts = append(parts, n+"="+f.Key[n])
	}
	return strings.Join(parts, " ")
}

// Blindness says a rule could not see what it needs.
type Blindness struct {
	Rule  string `json:"rule"`
	Needs string `json:"needs"`
	// Below counts the events the rule watches that were logged below
	// Needs; Seen all the events it watches.
	Below int64 `json:"below"`
	Seen  int64 `json:"seen"`
	// Level is the highest level those events were logged at.
	Level     string   `json:"level"`
	Resources []string `json:"resources,omitempty"`
	Message   string   `json:"message"`
}

// Result is what a run found.
type Result struct {
	Findings  []Finding   `json:"findings"`
	Blind     []Blindness `json:"blind,omitempty"`
	Warnings  []string    `json:"warnings,omitempty"`
	RuleCount int         `json:"rules"`
	// Events is how many events the rules saw (each request once).
	Events int64 `json:"events"`
	// PeakGroups is the most groups open at once (see --max-groups). It
	// depends on how the reading was split, so it is not part of the
	// (deterministic) JSON result.
	PeakGroups int64 `json:"-"`
}

// evaluate decides which groups of a closed window fire. Called with
// e.evalMu held; the window is freed afterwards except for the groups that
// fired.
func (e *Engine) evaluate(i int, w *window) {
	defer e.openGroups.Add(-int64(w.tab.len()))
	if w.tab.len() == 0 {
		return
	}
	c := e.comp[i]
	if need := e.judgeNames[i]; need != nil && len(c.Peers) == 0 {
		e.judgeAlone(i, w, need)
		return
	}
	// Groups too small for when's count >= N cannot fire.
	_, idx := w.tab.sortedKeys(c.MinCount)
	groups := make([]*group, len(idx))
	envs := make([]map[string]any, len(idx))
	need := e.judgeNames[i]
	for j, gi := range idx {
		groups[j] = w.tab.group(gi, e.layouts[i])
		envs[j] = e.groupEnv(i, w, groups[j], need)
	}
	for _, p := range c.Peers {
		vals := make([]float64, 0, len(envs))
		for _, env := range envs {
			out, err := e.gvm.Run(p.Arg, env)
			if err != nil {
				continue
			}
			if f, ok := toFloat(out); ok && !math.IsNaN(f) {
				vals = append(vals, f)
			}
		}
		stat := peerStat(p.Kind, vals)
		for _, env := range envs {
			env[p.Var] = stat
		}
	}
	for j, env := range envs {
		env["__peers_count"] = len(envs)
		if !e.holds(i, env) {
			continue
		}
		g := groups[j]
		if need != nil {
			// The whole view, for the values and texts; the peers'
			// statistics are only known here.
			full := e.groupEnv(i, w, g, nil)
			for _, p := range c.Peers {
				full[p.Var] = env[p.Var]
			}
			full["__peers_count"] = env["__peers_count"]
			env = full
		}
		e.fire(firedGroup{rule: i, start: w.start, end: w.end, g: g, env: env})
	}
}

// fire keeps a fired group for the result. A windowed rule's finding is
// rendered at once, so that a long input's findings hold their text, not
// their groups and views; identityAt needs every sink's addresses, known
// only at the end, and a whole-input rule's rates the input's span.
func (e *Engine) fire(f firedGroup) {
	if !e.rules[f.rule].Window.Whole() && !e.comp[f.rule].UsesIdentityAt {
		out := e.render(f)
		f = firedGroup{rule: f.rule, done: &out}
	}
	e.fired = append(e.fired, f)
}

// holds runs rule i's when on a group view; true when the group fires (or
// the rule has no when). A failing when is counted.
func (e *Engine) holds(i int, env map[string]any) bool {
	when := e.comp[i].When
	if when == nil {
		return true
	}
	out, err := e.gvm.Run(when, env)
	if err != nil {
		e.merged[i].evalErrors++
		return false
	}
	b, _ := out.(bool)
	return b
}

// judgeAlone is evaluate for a rule whose groups are judged each on its
// own (no peers): one small view, refilled for every group, and the whole
// view only for those that fire.
func (e *Engine) judgeAlone(i int, w *window, need map[string]bool) {
	c := e.comp[i]
	t := w.tab
	peers := t.len()
	if c.MinCount > 0 {
		peers = 0
		for gi := range t.recs.n {
			if t.recs.at(gi).count >= c.MinCount {
				peers++
			}
		}
	}
	env := make(map[string]any, len(need)+1)
	sc := newScratch(e.layouts[i])
	var fired []int
	for gi := range t.recs.n {
		if t.recs.at(gi).count < c.MinCount {
			continue
		}
		if c.When != nil {
			clear(env)
			e.fillEnv(env, i, w, t.view(gi, sc), need)
			env["__peers_count"] = peers
			if !e.holds(i, env) {
				continue
			}
		}
		fired = append(fired, gi)
	}
	keys := make([]string, len(fired))
	for j, gi := range fired {
		keys[j], _ = t.keyOf(gi)
	}
	sort.Sort(byKey{keys, fired})
	for _, gi := range fired {
		g := t.group(gi, e.layouts[i])
		full := e.groupEnv(i, w, g, nil)
		full["__peers_count"] = peers
		e.fire(firedGroup{rule: i, start: w.start, end: w.end, g: g, env: full})
	}
}

// byKey sorts records by their keys.
type byKey struct {
	keys []string
	idx  []int
}

func (b byKey) Len() int           { return len(b.keys) }
func (b byKey) Less(i, j int) bool { return b.keys[i] < b.keys[j] }
func (b byKey) Swap(i, j int) {
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
	b.idx[i], b.idx[j] = b.idx[j], b.idx[i]
}

// judgeNames collects the names a rule's when and peers arguments read;
// nil when they read the view as a whole ($env).
func judgeNames(c *rules.Compiled) map[string]bool {
	names := map[string]bool{}
	var progs []*vm.Program
	if c.When != nil {
		progs = append(progs, c.When)
	}
	for _, p := range c.Peers {
		progs = append(progs, p.Arg)
	}
	for _, p := range progs {
		node := p.Node()
		ast.Walk(&node, nameCollector(names))
	}
	if names["$env"] {
		return nil
	}
	return names
}

type nameCollector map[string]bool

func (n nameCollector) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok {
		n[id.Value] = true
	}
}

// groupEnv is the group view: count, rate, times, key names, aggregates.
// Only the names in need are set, unless need is nil.
func (e *Engine) groupEnv(i int, w *window, g *group, need map[string]bool) map[string]any {
	r := e.rules[i]
	c := e.comp[i]
	start, end := w.start, w.end
	if r.Window.Whole() {
		start, end = e.spanMin, e.spanMax
	}
	if need != nil {
		env := make(map[string]any, len(need)+1)
		e.fillEnv(env, i, w, g, need)
		return env
	}
	secs := float64(end-start) / 1e9
	span := float64(g.last-g.first) / 1e9
	env := map[string]any{
		"count":       int(g.count),
		"rate":        0.0,
		"span":        span,
		"interval":    0.0,
		"windowStart": time.Unix(0, start).UTC(),
		"windowEnd":   time.Unix(0, end).UTC(),
		"firstTime":   time.Unix(0, g.first).UTC(),
		"lastTime":    time.Unix(0, g.last).UTC(),
		"rule":        r.ID,
		"severity":    r.Severity.String(),
		"title":       r.Title,
		"identityAt":  e.identityLookup,
	}
	if secs > 0 {
		env["rate"] = float64(g.count) / secs
	}
	if g.count > 1 {
		env["interval"] = span / float64(g.count-1)
	}
	for k, key := range c.Keys {
		env[key.Name] = g.labels[k]
	}
	for a, ag := range c.Aggs {
		st := &g.aggs[a]
		if ag.Shares >= 0 {
			st = &g.aggs[ag.Shares]
		}
		env[ag.Var] = st.result(ag)
	}
	return env
}

// fillEnv sets in env the names of the group view in need.
func (e *Engine) fillEnv(env map[string]any, i int, w *window, g *group, need map[string]bool) {
	r := e.rules[i]
	c := e.comp[i]
	start, end := w.start, w.end
	if r.Window.Whole() {
		start, end = e.spanMin, e.spanMax
	}
	secs := float64(end-start) / 1e9
	span := float64(g.last-g.first) / 1e9
	for n := range need {
		switch n {
		case "count":
			env[n] = int(g.count)
		case "rate":
			env[n] = 0.0
			if secs > 0 {
				env[n] = float64(g.count) / secs
			}
		case "span":
			env[n] = span
		case "interval":
			env[n] = 0.0
			if g.count > 1 {
				env[n] = span / float64(g.count-1)
			}
		case "windowStart":
			env[n] = time.Unix(0, start).UTC()
		case "windowEnd":
			env[n] = time.Unix(0, end).UTC()
		case "firstTime":
			env[n] = time.Unix(0, g.first).UTC()
		case "lastTime":
			env[n] = time.Unix(0, g.last).UTC()
		case "rule":
			env[n] = r.ID
		case "severity":
			env[n] = r.Severity.String()
		case "title":
			env[n] = r.Title
		case "identityAt":
			env[n] = e.identityLookup
		}
	}
	for k, key := range c.Keys {
		if need[key.Name] {
			env[key.Name] = g.labels[k]
		}
	}
	for a, ag := range c.Aggs {
		if !need[ag.Var] {
			continue
		}
		st := &g.aggs[a]
		if ag.Shares >= 0 {
			st = &g.aggs[ag.Shares]
		}
		env[ag.Var] = st.result(ag)
	}
}

func peerStat(kind rules.PeerKind, vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	sort.Float64s(vals)
	switch kind {
	case rules.PeerMedian:
		n := len(vals)
		if n%2 == 1 {
			return vals[n/2]
		}
		return (vals[n/2-1] + vals[n/2]) / 2
	case rules.PeerP90:
		// nearest rank
		k := int(math.Ceil(0.9*float64(len(vals)))) - 1
		return vals[max(k, 0)]
	case rules.PeerMax:
		return vals[len(vals)-1]
	case rules.PeerMin:
		return vals[0]
	case rules.PeerAvg:
		sum := 0.0
		for _, v := range vals {
			sum += v
		}
		return sum / float64(len(vals))
	}
	return 0
}

// identityLookup is identityAt(ip): the user the address last
// authenticated as, or "". Valid once Finish has merged the sinks: the
// latest of the index's entry and the sinks' (the greatest user on a
// tie).
func (e *Engine) identityLookup(ip string) string {
	var best ipSeen
	found := false
	consider := func(t int64, user string) {
		if !found || t > best.t || t == best.t && user > best.user {
			best, found = ipSeen{t: t, user: user}, true
		}
	}
	if a, ok := parseIPv4(ip); ok {
		if v, ok := e.ips4[a]; ok {
			consider(v.t, e.ipUsers.users[v.user])
		}
		for _, s := range e.sinks {
			if v := s.ips4.get(a); v != nil {
				consider(v.t, s.users.users[v.user-1])
			}
		}
		return best.user
	}
	if v, ok := e.ips[ip]; ok {
		consider(v.t, v.user)
	}
	for _, s := range e.sinks {
		if v := s.ips[ip]; v != nil {
			consider(v.t, v.user)
		}
	}
	return best.user
}

// Finish hands every sink's remaining windows over, evaluates them, and
// returns the findings sorted: severity (highest first), rule, window,
// key. Call it once, after Read has returned.
func (e *Engine) Finish() *Result {
	res, _ := e.finish(false, 0)
	return res
}

// finish is Finish, or Suspend when suspend is set: then only windows
// that end by horizon are evaluated, whole-input groups are evaluated and
// kept, and what is left open is returned as a snapshot.
func (e *Engine) finish(suspend bool, horizon int64) (*Result, *Snapshot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.spanMin, e.spanMax = 1<<63-1, -1<<63
	for _, s := range e.sinks {
		e.spanMin = min(e.spanMin, s.minT)
		e.spanMax = max(e.spanMax, s.maxT)
	}
	if e.carried {
		e.spanMin = min(e.spanMin, e.carrySpan[0])
		e.spanMax = max(e.spanMax, e.carrySpan[1])
	}
	if e.spanMin > e.spanMax {
		e.spanMin, e.spanMax = 0, 0
	}
	// The sinks' addresses are looked up where they are (identityLookup),
	// unless some were handed over: then the index is one, evicting as it
	// did.
	mergeIPs := len(e.ips4)+len(e.ips) > 0
	for _, s := range e.sinks {
		for i, ws := range s.open {
			for _, w := range ws {
				e.mergeWindow(i, w)
			}
			s.open[i] = nil
		}
		if s.ips != nil && mergeIPs {
			s.handIPsLocked()
		}
		for i, n := range s.long {
			e.merged[i].long += n
		}
	}
	if suspend {
		e.evaluateAll(e.takeSuspended(horizon))
	} else {
		e.evaluateAll(e.takeReady(true))
	}

	res := &Result{RuleCount: len(e.rules), PeakGroups: e.peakGroups.Load()}
	for _, s := range e.sinks {
		res.Events += s.used
	}
	for _, f := range e.fired {
		if f.done != nil {
			res.Findings = append(res.Findings, *f.done)
			continue
		}
		res.Findings = append(res.Findings, e.render(f))
	}
	byID := map[string]*rules.Rule{}
	for _, r := range e.rules {
		byID[r.ID] = r
	}
	res.Findings = incidents(res.Findings, byID)
	sortFindings(res.Findings)
	res.Blind = e.blindness()
	exprErrs := make([]exprErrors, len(e.rules))
	for _, s := range e.sinks {
		for i := range s.exprErrs {
			exprErrs[i].add(s.exprErrs[i])
		}
	}
	for i, m := range e.merged {
		id := e.rules[i].ID
		if x := exprErrs[i]; x.match > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("rule %s: match failed on %d events, which the rule did not see (first: %s)", id, x.match, x.firstMatch))
		}
		if x := exprErrs[i]; x.groupBy > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("rule %s: group_by failed on %d events, which were not counted (first: %s)", id, x.groupBy, x.firstGroupBy))
		}
		if x := exprErrs[i]; x.agg > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("rule %s: an aggregate's argument failed on %d events, counted as no value (first: %s)", id, x.agg, x.firstAgg))
		}
		if m.dropped > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("rule %s: %d events not counted: more than %d groups were open at once (raise --max-groups, or narrow the rule's group_by)", id, m.dropped, e.opts.MaxGroups))
		}
		if m.late > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("rule %s: %d events arrived more than %s after their window had been evaluated and were not counted (inputs out of time order?)", id, m.late, e.opts.Lateness+slack))
		}
		if m.long > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("rule %s: %d requests that lasted longer than %s were left out of its windows", id, m.long, e.opts.Lateness))
		}
		if m.evalErrors > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("rule %s: when failed on %d groups", id, m.evalErrors))
		}
	}
	if e.ipsEvicted > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("identityAt: the input has more than %d source addresses; %d times one seen least recently was dropped from the index, and an address dropped for good has no lastIdentity", maxIPs, e.ipsEvicted))
	}
	if !suspend {
		return res, nil
	}
	return res, e.snapshot(horizon)
}

// seeIP merges a sink's last identity of an address other than IPv4.
func (e *Engine) seeIP(ip string, seen ipSeen) {
	cur, ok := e.ips[ip]
	if !ok && len(e.ips4)+len(e.ips) >= maxIPs {
		e.evictIPs()
	}
	if !ok || seen.t > cur.t || seen.t == cur.t && seen.user > cur.user {
		e.ips[ip] = seen
	}
}

// render evaluates a fired group's values and texts.
func (e *Engine) render(f firedGroup) Finding {
	r := e.rules[f.rule]
	c := e.comp[f.rule]
	g := f.g
	out := Finding{
		Rule:     r.ID,
		Title:    r.Title,
		Severity: r.Severity.String(),
		Level:    r.Severity,
		Count:    g.count,
		First:    time.Unix(0, g.first).UTC(),
		Last:     time.Unix(0, g.last).UTC(),
	}
	if len(c.Keys) > 0 {
		out.Key = map[string]string{}
	}
	for k, key := range c.Keys {
		out.Key[key.Name] = g.labels[k]
		out.KeyNames = append(out.KeyNames, key.Name)
	}
	if !r.Window.Whole() {
		ws, we := time.Unix(0, f.start).UTC(), time.Unix(0, f.end).UTC()
		out.WindowStart, out.WindowEnd = &ws, &we
	}
	ev := g.events()
	for i := range ev {
		out.Evidence = append(out.Evidence, ev[i].id.String())
	}
	if len(ev) > 0 && ev[0].file() > 0 {
		out.Location = &Location{File: e.fileName(ev[0].file()), Offset: ev[0].off()}
	}
	data := map[string]any{}
	for k, v := range f.env {
		if !strings.HasPrefix(k, "__") && k != "identityAt" {
			data[k] = v
		}
	}
	for _, v := range c.Values {
		res, err := e.gvm.Run(v.Prog, f.env)
		if err != nil {
			res = fmt.Sprintf("error: %v", err)
		}
		if out.Values == nil {
			out.Values = map[string]any{}
		}
		out.Values[v.Name] = res
		out.ValueNames = append(out.ValueNames, v.Name)
		data[v.Name] = res
	}
	out.Summary = execTemplate(c.Summary, data)
	if c.Advice != nil {
		out.Advice = execTemplate(c.Advice, data)
	}
	out.Fingerprint = fingerprint(r.ID, out.KeyNames, g.labels, f.start, r.Window.Whole())
	return out
}

func execTemplate(t *template.Template, data map[string]any) string {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return fmt.Sprintf("(summary failed: %v)", err)
	}
	return tidyText(b.String())
}

// tidyText drops what an empty value leaves in a rendered text: empty
// parentheses (" ()" of a user agent the log does not have) and a
// trailing colon (": " before an empty message).
func tidyText(s string) string {
	s = strings.ReplaceAll(s, " ()", "")
	s = strings.TrimSpace(s)
	for strings.HasSuffix(s, ":") {
		s = strings.TrimSpace(strings.TrimSuffix(s, ":"))
	}
	return s
}

func fingerprint(rule string, names, labels []string, start int64, whole bool) string {
	h := sha256.New()
	h.Write([]byte(rule))
	for k, n := range names {
		h.Write([]byte{0})
		h.Write([]byte(n))
		h.Write([]byte{'='})
		h.Write([]byte(labels[k]))
	}
	h.Write([]byte{0})
	if !whole {
		h.Write([]byte(time.Unix(0, start).UTC().Format(time.RFC3339Nano)))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(a, b int) bool {
		x, y := &fs[a], &fs[b]
		if x.Level != y.Level {
			return x.Level > y.Level
		}
		if x.Rule != y.Rule {
			return x.Rule < y.Rule
		}
		xs, ys := time.Time{}, time.Time{}
		if x.WindowStart != nil {
			xs = *x.WindowStart
		}
		if y.WindowStart != nil {
			ys = *y.WindowStart
		}
		if !xs.Equal(ys) {
			return xs.Before(ys)
		}
		if ka, kb := x.KeyString(), y.KeyString(); ka != kb {
			return ka < kb
		}
		return x.Fingerprint < y.Fingerprint
	})
}

// blindCount counts what a rule that needs a level saw below it.
type blindCount struct {
	below, ok int64
	maxBelow  int
	resources []string
}

func (b *blindCount) see(ev *audit.Event, needs int) {
	rank := audit.LevelRank(ev.Level)
	if rank >= needs {
		b.ok++
		return
	}
	b.below++
	b.maxBelow = max(b.maxBelow, rank)
	b.addResource(ev.ObjectRef.Resource)
}

// addResource keeps the 5 smallest names, so merging does not depend on
// order.
func (b *blindCount) addResource(r string) {
	if r == "" {
		return
	}
	i := sort.SearchStrings(b.resources, r)
	if i < len(b.resources) && b.resources[i] == r {
		return
	}
	if i >= 5 {
		return
	}
	b.resources = append(b.resources, "")
	copy(b.resources[i+1:], b.resources[i:])
	b.resources[i] = strings.Clone(r)
	if len(b.resources) > 5 {
		b.resources = b.resources[:5]
	}
}

var levelNames = []string{audit.LevelNone, audit.LevelMetadata, audit.LevelRequest, audit.LevelRequestResponse}

func (e *Engine) blindness() []Blindness {
	var out []Blindness
	for i, r := range e.rules {
		var total blindCount
		for _, s := range e.sinks {
			b := &s.blind[i]
			total.below += b.below
			total.ok += b.ok
			total.maxBelow = max(total.maxBelow, b.maxBelow)
			for _, res := range b.resources {
				total.addResource(res)
			}
		}
		if total.below == 0 {
			continue
		}
		bl := Blindness{Rule: r.ID, Needs: r.Needs, Below: total.below, Seen: total.below + total.ok,
			Level: levelNames[total.maxBelow], Resources: total.resources}
		what := "the events it watches"
		if len(total.resources) > 0 {
			what = strings.Join(total.resources, ", ")
		}
		if total.ok == 0 {
			bl.Message = fmt.Sprintf("blind: %s %s logged at %s (%d events); the rule needs %s", what, isAre(total.resources), bl.Level, total.below, r.Needs)
		} else {
			bl.Message = fmt.Sprintf("partly blind: %d of %d %s events are logged at %s; the rule needs %s", total.below, bl.Seen, what, bl.Level, r.Needs)
		}
		out = append(out, bl)
	}
	return out
}

func isAre(list []string) string {
	if len(list) == 1 {
		return "is"
	}
	return "are"
}
