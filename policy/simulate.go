package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// Simulation: every event of the log (every stage: read it with
// sources.ReadOptions.Stages set to all four) is evaluated against the new
// policy with kube-apiserver's evaluator, and becomes, when the new policy
// logs its stage, the event of the same stage the apiserver would write at
// the new level: its bodies cut or kept (exact sizes, from the bytes of
// the log), or, for a level above the event's, the bodies' sizes
// estimated from the log's events of the same resource, verb and stage
// that hold them. A stage the log holds no event of (its policy omitted
// it) is derived from each request's counted event, the one the reader
// counts once per request; that is an estimate too. How many events a
// request makes follows the apiserver's audit filter: RequestReceived,
// then ResponseStarted for long-running requests, then ResponseComplete
// (or Panic); a request that failed authentication only ResponseStarted.

// Stages in index order.
var stageNames = [4]string{audit.StageRequestReceived, audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic}

const (
	stRR = iota
	stRS
	stRC
	stPanic
)

func stageIndex(s string) int {
	for i, n := range stageNames {
		if n == s {
			return i
		}
	}
	return -1
}

// Anchors: the event a request is counted at.
const (
	anchorShort   = iota // not long-running: its ResponseComplete, Panic, or a failed authentication's ResponseStarted
	anchorStarted        // long-running, at its ResponseStarted
	anchorFinal          // long-running, at its ResponseComplete or Panic
	nAnchors
)

// Dimensions of the breakdown.
const (
	dimTotal = iota
	dimLevel
	dimRule
	dimResource
	dimUser
	nDims
)

// estimate is a body whose size must be estimated: part 0 is the request
// body, 1 the response body.
type estimate struct {
	key  string
	part uint8
	omit bool // omitManagedFields
}

type cost struct {
	events, bytes int64
	// derived counts bytes derived from another stage's event.
	derived int64
	needs   map[estimate]int64
}

func (c *cost) add(bytes int64, need *estimate) {
	c.events++
	c.bytes += bytes
	if need != nil {
		if c.needs == nil {
			c.needs = map[estimate]int64{}
		}
		c.needs[*need]++
	}
}

func (c *cost) merge(o *cost) {
	c.events += o.events
	c.bytes += o.bytes
	c.derived += o.derived
	for k, v := range o.needs {
		if c.needs == nil {
			c.needs = map[estimate]int64{}
		}
		c.needs[k] += v
	}
}

type group struct {
	own      cost
	mapped   [4]cost
	synth    [nAnchors][4]cost
	requests [nAnchors]int64
}

func (g *group) merge(o *group) {
	g.own.merge(&o.own)
	for i := range g.mapped {
		g.mapped[i].merge(&o.mapped[i])
	}
	for a := range g.synth {
		for i := range g.synth[a] {
			g.synth[a][i].merge(&o.synth[a][i])
		}
		g.requests[a] += o.requests[a]
	}
}

// bodySample sums the sizes of bodies logged at a key.
type bodySample struct {
	n, bytes, mf int64
}

// reqStats are what is counted once per request.
type reqStats struct {
	// stopped counts requests the new policy does not log, by
	// "rule\x00user\x00verb\x00resource".
	stopped map[string]int64
	// detectors[i] counts, for detector i, the requests its prefilter
	// admits: [log below needs, log at needs or more] x [new below, new ok].
	detectors [][2][2]int64
}

// SimOptions configure a Simulator.
type SimOptions struct {
	// Detectors are the detect rules (compiled) whose sight is compared.
	Detectors []*rules.Rule
}

// Simulator evaluates a policy over a log. NewSink gives the reader one
// sink per worker; Result merges them.
type Simulator struct {
	f     *File
	o     SimOptions
	eval  *Evaluator
	sinks []*simSink
}

// NewSimulator prepares a simulation of f.
func NewSimulator(f *File, o SimOptions) *Simulator {
	return &Simulator{f: f, o: o, eval: NewEvaluator(f)}
}

// NewSink returns a sink for one reader goroutine.
func (s *Simulator) NewSink() audit.Sink {
	k := &simSink{s: s, samples: map[string]*[2]bodySample{}}
	for d := range k.groups {
		k.groups[d] = map[string]*group{}
	}
	for a := range k.req {
		k.req[a] = reqStats{stopped: map[string]int64{}, detectors: make([][2][2]int64, len(s.o.Detectors))}
	}
	s.sinks = append(s.sinks, k)
	return k
}

type simSink struct {
	s       *Simulator
	buf     []byte
	key     []byte
	held    [4]int64
	minT    int64
	maxT    int64
	groups  [nDims]map[string]*group
	samples map[string]*[2]bodySample
	req     [nAnchors]reqStats
}

func (k *simSink) group(d int, key string) *group {
	g := k.groups[d][key]
	if g == nil {
		g = &group{}
		k.groups[d][strings.Clone(key)] = g
	}
	return g
}

func levelLen(l string) int64 { return int64(len(l)) }

// Event is called for every event of the log.
func (k *simSink) Event(e *audit.Event) {
	st := stageIndex(e.Stage)
	if st < 0 || audit.LevelRank(e.Level) == 0 {
		return
	}
	k.held[st]++
	t := e.Received
	if t.IsZero() {
		t = e.StageTime
	}
	if ns := t.UnixNano(); !t.IsZero() {
		if k.minT == 0 || ns < k.minT {
			k.minT = ns
		}
		if ns > k.maxT {
			k.maxT = ns
		}
	}
	k.buf = e.AppendJSON(k.buf[:0])
	size := int64(len(k.buf)) + 1
	sp := scanSpans(k.buf)

	attrs := Attributes(e)
	ruleIdx, cfg := k.s.eval.Evaluate(&attrs)
	newLevel := string(cfg.Level)
	logs := cfg.Level != auditinternal.LevelNone
	omitMF := cfg.OmitManagedFields

	k.key = e.AppendResourceKey(k.key[:0])
	resource := string(k.key)
	estKey := resource + " " + e.Verb + " " + e.Stage
	k.sample(estKey, e, sp)
	k.sample("* "+e.Verb+" "+e.Stage, e, sp)
	k.sampleObject(resource, e, sp)

	userKey := e.User.Username
	if userKey == "" {
		userKey = "<none>"
	}
	ruleKey := strconv.Itoa(ruleIdx)
	newKeys := [nDims]string{"", newLevel, ruleKey, resource, userKey}
	ownKeys := newKeys
	ownKeys[dimLevel] = e.Level

	for d := 0; d < nDims; d++ {
		k.group(d, ownKeys[d]).own.add(size, nil)
	}
	var groups [nDims]*group
	for d := 0; d < nDims; d++ {
		groups[d] = k.group(d, newKeys[d])
	}

	if logs && !omits(cfg.OmitStages, auditinternal.Stage(e.Stage)) {
		bytes, need := convert(size, sp, e.Level, newLevel, omitMF, estKey, bodiesOf(e, st))
		for _, g := range groups {
			g.mapped[st].add(bytes, need)
		}
	}

	lr := e.LongRunning()
	anchor := -1
	switch {
	case !lr && st != stRR:
		anchor = anchorShort
	case lr && st == stRS:
		anchor = anchorStarted
	case lr && (st == stRC || st == stPanic):
		anchor = anchorFinal
	}
	if anchor < 0 {
		return
	}
	for _, g := range groups {
		g.requests[anchor]++
	}
	k.request(anchor, e, ruleIdx, cfg.Level, resource, userKey)
	if !logs {
		return
	}
	failedAuth := !lr && st == stRS
	levelDelta := levelLen(newLevel) - levelLen(e.Level)
	for t := 0; t < 3; t++ {
		if t == st || omits(cfg.OmitStages, auditinternal.Stage(stageNames[t])) {
			continue
		}
		var bytes int64
		stageDelta := int64(len(stageNames[t]) - len(e.Stage))
		switch {
		case failedAuth:
			continue // only ResponseStarted
		case t == stRR:
			bytes = size - int64(sp.request+sp.response+sp.status+sp.annotations) + levelDelta + stageDelta
		case t == stRS && anchor == anchorFinal:
			bytes = size - int64(sp.request+sp.response) + levelDelta + stageDelta
		case t == stRC && anchor == anchorStarted:
			bytes = size + levelDelta + stageDelta
		default:
			continue
		}
		for _, g := range groups {
			c := &g.synth[anchor][t]
			c.add(bytes, nil)
			c.derived += bytes
		}
	}
}

// sample records the bodies an event holds, for estimates.
func (k *simSink) sample(key string, e *audit.Event, sp spans) {
	rank := audit.LevelRank(e.Level)
	if rank < audit.LevelRank(audit.LevelRequest) {
		return
	}
	s := k.samples[key]
	if s == nil {
		s = &[2]bodySample{}
		k.samples[key] = s
	}
	s[0].n++
	s[0].bytes += int64(sp.request)
	s[0].mf += int64(sp.requestMF)
	if rank == audit.LevelRank(audit.LevelRequestResponse) {
		s[1].n++
		s[1].bytes += int64(sp.response)
		s[1].mf += int64(sp.responseMF)
	}
}

// bodies says which bodies an event can hold at Request and
// RequestResponse: kube-apiserver logs a request body for writes (create,
// update, patch, delete's options) and a response body for anything but
// a watch or another long-running request (their responses are streams),
// and neither before the request has been handled (RequestReceived,
// ResponseStarted).
type bodies struct{ request, response bool }

func bodiesOf(e *audit.Event, st int) bodies {
	if st == stRR || st == stRS || e.LongRunning() {
		return bodies{}
	}
	switch e.Verb {
	case "create", "update", "patch", "delete", "deletecollection":
		return bodies{request: true, response: true}
	case "get", "list":
		return bodies{response: true}
	}
	return bodies{}
}

// sampleObject records the size of the resource's objects, from write
// bodies and the responses of gets and writes, to estimate the response
// of a get or a write of the same resource that no logged event shows.
func (k *simSink) sampleObject(resource string, e *audit.Event, sp spans) {
	var n, size, mf int64
	if sp.request > 0 && (e.Verb == "create" || e.Verb == "update") {
		n, size, mf = 1, int64(sp.request-len(`"requestObject":`)), int64(sp.requestMF)
	}
	if sp.response > 0 && e.Verb != "list" && e.Verb != "deletecollection" {
		n, size, mf = 1, int64(sp.response-len(`"responseObject":`)), int64(sp.responseMF)
	}
	if n == 0 {
		return
	}
	key := objectKey(resource)
	s := k.samples[key]
	if s == nil {
		s = &[2]bodySample{}
		k.samples[key] = s
	}
	s[1].n += n
	s[1].bytes += size
	s[1].mf += mf
}

func objectKey(resource string) string { return "object " + resource }

// convert is the size of an event of the log at the new level: exact when
// the new level is not above the event's (or the event cannot hold the
// bodies the new level adds), else with an estimate to add.
func convert(size int64, sp spans, from, to string, omitMF bool, estKey string, can bodies) (int64, *estimate) {
	out := size - int64(sp.request+sp.response) + levelLen(to) - levelLen(from)
	fromRank, toRank := audit.LevelRank(from), audit.LevelRank(to)
	var need *estimate
	if toRank >= audit.LevelRank(audit.LevelRequest) {
		switch {
		case sp.request > 0:
			out += int64(sp.request)
			if omitMF {
				out -= int64(sp.requestMF)
			}
		case fromRank < audit.LevelRank(audit.LevelRequest) && can.request:
			need = &estimate{key: estKey, part: 0, omit: omitMF}
		}
	}
	if toRank == audit.LevelRank(audit.LevelRequestResponse) {
		switch {
		case sp.response > 0:
			out += int64(sp.response)
			if omitMF {
				out -= int64(sp.responseMF)
			}
		case fromRank < audit.LevelRank(audit.LevelRequestResponse) && can.response:
			// A second estimate for the same event: the request body
			// (when needed) is counted with the first.
			if need != nil {
				need = &estimate{key: estKey, part: 2, omit: omitMF}
			} else {
				need = &estimate{key: estKey, part: 1, omit: omitMF}
			}
		}
	}
	return out, need
}

func (k *simSink) request(anchor int, e *audit.Event, ruleIdx int, level auditinternal.Level, resource, user string) {
	r := &k.req[anchor]
	if level == auditinternal.LevelNone {
		r.stopped[strconv.Itoa(ruleIdx)+"\x00"+user+"\x00"+e.Verb+"\x00"+resource]++
	}
	newRank := levelRank(level)
	ownRank := audit.LevelRank(e.Level)
	for i, d := range k.s.o.Detectors {
		c := d.Compiled()
		if c == nil || !admits(c.Prefilter, e) {
			continue
		}
		needs := c.NeedsRank
		own, nw := 0, 0
		if ownRank >= needs {
			own = 1
		}
		if newRank >= needs {
			nw = 1
		}
		r.detectors[i][own][nw]++
	}
}

// admits reports whether a rule's prefilter lets the event through, as
// detect's index does.
func admits(f rules.Filter, e *audit.Event) bool {
	for _, p := range f {
		if admitsOne(p, e) {
			return true
		}
	}
	return len(f) == 0
}

func admitsOne(p rules.Prefilter, e *audit.Event) bool {
	imp := "no"
	if e.HasImpersonation() {
		imp = "yes"
	}
	if !p.Verb.Has(e.Verb) || !p.Resource.Has(e.ObjectRef.Resource) || !p.Subresource.Has(e.ObjectRef.Subresource) ||
		!p.APIGroup.Has(e.ObjectRef.APIGroup) || !p.Stage.Has(e.Stage) || !p.Decision.Has(e.Decision()) ||
		!p.APIVersion.Has(e.ObjectRef.APIVersion) || !p.Namespace.Has(e.ObjectRef.Namespace) || !p.Impersonated.Has(imp) ||
		!p.Code.Has(e.Code) || !p.User.Has(rules.UserFlags(e.User.Username, e.NodeName() != "")) {
		return false
	}
	if p.MinLatency > 0 && e.Latency().Seconds() < p.MinLatency {
		return false
	}
	for _, a := range p.Annotations {
		if e.Annotation(a) == "" {
			return false
		}
	}
	return true
}

// Cost is what a set of events costs.
type Cost struct {
	Events          int64   `json:"events"`
	Bytes           int64   `json:"bytes"`
	EventsPerSecond float64 `json:"eventsPerSecond"`
	BytesPerDay     float64 `json:"bytesPerDay"`
	// EstimatedBytes is the part of Bytes that is estimated: bodies at a
	// level the log does not hold, and stages it does not hold.
	EstimatedBytes int64 `json:"estimatedBytes,omitempty"`
}

// Row is one line of a breakdown: the log's own cost and the new policy's.
type Row struct {
	Key string `json:"key"`
	// Requests counts the requests of the row, each once.
	Requests int64 `json:"requests"`
	Log      Cost  `json:"log"`
	Policy   Cost  `json:"policy"`
}

// Stopped is a kind of request the new policy stops logging.
type Stopped struct {
	Rule     string `json:"rule"`
	User     string `json:"user"`
	Verb     string `json:"verb"`
	Resource string `json:"resource"`
	Requests int64  `json:"requests"`
}

// DetectorChange is a shipped rule that would see less or more.
type DetectorChange struct {
	Rule  string `json:"rule"`
	Needs string `json:"needs"`
	// Watched counts the log's requests its prefilter admits; Blinded those
	// the log gives it at its level or more and the policy below;
	// Unblinded the reverse.
	Watched   int64  `json:"watched"`
	Blinded   int64  `json:"blinded"`
	Unblinded int64  `json:"unblinded"`
	Message   string `json:"message"`
}

// Result is a simulation's outcome.
type Result struct {
	Policy  string        `json:"policy"`
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	Span    time.Duration `json:"-"`
	Seconds float64       `json:"seconds"`
	Total   Row           `json:"total"`
	ByLevel []Row         `json:"byLevel"`
	ByRule  []Row         `json:"byRule"`
	// ByResource and ByUser are sorted by the new policy's bytes, then
	// the log's.
	ByResource   []Row            `json:"byResource"`
	ByUser       []Row            `json:"byUser"`
	Stopped      []Stopped        `json:"stopped"`
	StoppedTotal int64            `json:"stoppedRequests"`
	Detectors    []DetectorChange `json:"detectors"`
	// Notes say what was estimated and what the log cannot tell.
	Notes []string `json:"notes"`
	// Unsampled counts bodies the log had no event to estimate from.
	Unsampled int64 `json:"unsampledBodies,omitempty"`
}

// RuleName names a policy rule of a Result's ByRule keys.
func (s *Simulator) ruleName(key string) string {
	i, _ := strconv.Atoi(key)
	if i < 0 {
		return "no rule (None)"
	}
	r := s.f.Policy.Rules[i]
	return fmt.Sprintf("rule %d (line %d): %s", i+1, s.f.RulePos(i).Line, r.Level)
}

// Result merges the sinks and prices every estimate.
func (s *Simulator) Result() *Result {
	var held [4]int64
	var minT, maxT int64
	groups := [nDims]map[string]*group{}
	for d := range groups {
		groups[d] = map[string]*group{}
	}
	samples := map[string]*[2]bodySample{}
	var req [nAnchors]reqStats
	for a := range req {
		req[a] = reqStats{stopped: map[string]int64{}, detectors: make([][2][2]int64, len(s.o.Detectors))}
	}
	for _, k := range s.sinks {
		for i := range held {
			held[i] += k.held[i]
		}
		if k.minT != 0 && (minT == 0 || k.minT < minT) {
			minT = k.minT
		}
		maxT = max(maxT, k.maxT)
		for d := range groups {
			for key, g := range k.groups[d] {
				if groups[d][key] == nil {
					groups[d][key] = &group{}
				}
				groups[d][key].merge(g)
			}
		}
		for key, v := range k.samples {
			if samples[key] == nil {
				samples[key] = &[2]bodySample{}
			}
			for p := range v {
				samples[key][p].n += v[p].n
				samples[key][p].bytes += v[p].bytes
				samples[key][p].mf += v[p].mf
			}
		}
		for a := range req {
			for key, v := range k.req[a].stopped {
				req[a].stopped[key] += v
			}
			for i := range req[a].detectors {
				for x := 0; x < 2; x++ {
					for y := 0; y < 2; y++ {
						req[a].detectors[i][x][y] += k.req[a].detectors[i][x][y]
					}
				}
			}
		}
	}
	lrAnchor := anchorStarted
	if held[stRS] == 0 {
		lrAnchor = anchorFinal
	}
	res := &Result{Policy: s.f.Name}
	if minT != 0 {
		res.From, res.To = time.Unix(0, minT).UTC(), time.Unix(0, maxT).UTC()
		res.Span = res.To.Sub(res.From)
	}
	res.Seconds = max(res.Span.Seconds(), 1)
	unsampled := int64(0)
	price := func(c *cost) (bytes, est int64) {
		bytes, est = c.bytes, c.derived
		for need, n := range c.needs {
			var per int64
			parts := []uint8{need.part}
			if need.part == 2 {
				parts = []uint8{0, 1}
			}
			for _, part := range parts {
				p, ok := avgBody(samples, need.key, part, need.omit)
				if !ok {
					unsampled += n
				}
				per += p
			}
			bytes += per * n
			est += per * n
		}
		return bytes, est
	}
	row := func(key string, g *group) Row {
		r := Row{Key: key, Requests: g.requests[anchorShort] + g.requests[lrAnchor]}
		r.Log = s.costOf(g.own.events, g.own.bytes, 0, res.Seconds)
		var events, bytes, est int64
		for t := 0; t < 4; t++ {
			var cs []*cost
			if held[t] > 0 {
				cs = []*cost{&g.mapped[t]}
			} else {
				cs = []*cost{&g.synth[anchorShort][t], &g.synth[lrAnchor][t]}
			}
			for _, c := range cs {
				b, e := price(c)
				events += c.events
				bytes += b
				est += e
			}
		}
		r.Policy = s.costOf(events, bytes, est, res.Seconds)
		return r
	}
	rows := func(d int) []Row {
		var out []Row
		for key, g := range groups[d] {
			out = append(out, row(key, g))
		}
		return out
	}
	if g := groups[dimTotal][""]; g != nil {
		res.Total = row("total", g)
	}
	res.ByLevel = rows(dimLevel)
	sort.Slice(res.ByLevel, func(i, j int) bool {
		return audit.LevelRank(res.ByLevel[i].Key) < audit.LevelRank(res.ByLevel[j].Key)
	})
	res.ByRule = rows(dimRule)
	sort.Slice(res.ByRule, func(i, j int) bool {
		a, _ := strconv.Atoi(res.ByRule[i].Key)
		b, _ := strconv.Atoi(res.ByRule[j].Key)
		if a < 0 || b < 0 {
			return a > b // "no rule" last
		}
		return a < b
	})
	for i := range res.ByRule {
		res.ByRule[i].Key = s.ruleName(res.ByRule[i].Key)
	}
	res.ByResource = sortByCost(rows(dimResource))
	res.ByUser = sortByCost(rows(dimUser))

	stopped := map[string]int64{}
	for _, a := range []int{anchorShort, lrAnchor} {
		for key, v := range req[a].stopped {
			stopped[key] += v
		}
	}
	for key, n := range stopped {
		parts := strings.SplitN(key, "\x00", 4)
		res.Stopped = append(res.Stopped, Stopped{Rule: s.ruleName(parts[0]), User: parts[1], Verb: parts[2], Resource: parts[3], Requests: n})
		res.StoppedTotal += n
	}
	sort.Slice(res.Stopped, func(i, j int) bool {
		a, b := res.Stopped[i], res.Stopped[j]
		if a.Requests != b.Requests {
			return a.Requests > b.Requests
		}
		return a.User+a.Verb+a.Resource < b.User+b.Verb+b.Resource
	})
	for i, d := range s.o.Detectors {
		var m [2][2]int64
		for _, a := range []int{anchorShort, lrAnchor} {
			for x := 0; x < 2; x++ {
				for y := 0; y < 2; y++ {
					m[x][y] += req[a].detectors[i][x][y]
				}
			}
		}
		ch := DetectorChange{Rule: d.ID, Needs: d.Needs, Watched: m[0][0] + m[0][1] + m[1][0] + m[1][1], Blinded: m[1][0], Unblinded: m[0][1]}
		ok := m[0][1] + m[1][1]
		switch {
		case ch.Blinded > 0 && ok == 0:
			ch.Message = fmt.Sprintf("%s would be blind: all %d requests it watches would be logged below %s (or not at all); the log gives %d of them %s or more", d.ID, ch.Watched, d.Needs, ch.Blinded, d.Needs)
		case ch.Blinded > 0:
			ch.Message = fmt.Sprintf("%s would be partly blind: %d of the %d requests it watches would fall below %s", d.ID, ch.Blinded, ch.Watched, d.Needs)
		case ch.Unblinded > 0 && m[1][0]+m[0][0] == 0:
			ch.Message = fmt.Sprintf("%s would see again: all %d requests it watches would be logged at %s or more (the log has %d below)", d.ID, ch.Watched, d.Needs, ch.Unblinded)
		case ch.Unblinded > 0:
			ch.Message = fmt.Sprintf("%s would see %d more of the %d requests it watches at %s or more", d.ID, ch.Unblinded, ch.Watched, d.Needs)
		default:
			continue
		}
		res.Detectors = append(res.Detectors, ch)
	}
	res.Unsampled = unsampled
	var derived [4]int64
	if g := groups[dimTotal][""]; g != nil {
		for t := range derived {
			if held[t] == 0 {
				derived[t] = g.synth[anchorShort][t].events + g.synth[lrAnchor][t].events
			}
		}
	}
	res.Notes = s.notes(derived, res)
	return res
}

func (s *Simulator) costOf(events, bytes, est int64, seconds float64) Cost {
	return Cost{Events: events, Bytes: bytes, EstimatedBytes: est,
		EventsPerSecond: round3(float64(events) / seconds), BytesPerDay: round3(float64(bytes) / seconds * 86400)}
}

func round3(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 12, 64), 64)
	return v
}

// avgBody is the mean size of a body part at key ("resource verb
// stage"), from the log's events that hold it; for a response of a get or
// a write, else the resource's objects as the log's bodies show them;
// else every resource's of the same verb and stage. False when there is no
// sample at all.
func avgBody(samples map[string]*[2]bodySample, key string, part uint8, omitMF bool) (int64, bool) {
	f := strings.SplitN(key, " ", 3)
	keys := []string{key}
	if part == 1 && f[1] != "list" && f[1] != "deletecollection" {
		keys = append(keys, objectKey(f[0]))
	}
	keys = append(keys, "* "+f[1]+" "+f[2])
	for i, k := range keys {
		s := samples[k]
		if s == nil || s[part].n == 0 {
			continue
		}
		b := s[part].bytes
		if omitMF {
			b -= s[part].mf
		}
		per := b / s[part].n
		if k == objectKey(f[0]) && i > 0 {
			per += int64(len(`,"responseObject":`))
		}
		return per, true
	}
	return 0, false
}

func sortByCost(rows []Row) []Row {
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Policy.Bytes != b.Policy.Bytes {
			return a.Policy.Bytes > b.Policy.Bytes
		}
		if a.Log.Bytes != b.Log.Bytes {
			return a.Log.Bytes > b.Log.Bytes
		}
		return a.Key < b.Key
	})
	return rows
}

func (s *Simulator) notes(derived [4]int64, res *Result) []string {
	var out []string
	for t, name := range stageNames[:3] {
		if derived[t] > 0 {
			out = append(out, fmt.Sprintf("the log holds no %s events: the policy's %d are derived from each request's counted event (estimate)", name, derived[t]))
		}
	}
	if res.Total.Policy.EstimatedBytes > 0 {
		out = append(out, fmt.Sprintf("%s of the policy's %s are estimated (bodies at a level the log does not hold, from the log's events of the same resource, verb and stage that hold them; stages the log does not hold)",
			sources.HumanBytes(res.Total.Policy.EstimatedBytes), sources.HumanBytes(res.Total.Policy.Bytes)))
	}
	if res.Unsampled > 0 {
		out = append(out, fmt.Sprintf("%d bodies had no event of their verb and stage to estimate from: counted as empty", res.Unsampled))
	}
	out = append(out, "requests the log's own policy did not log are not in the log: the simulation cannot count them")
	return out
}
