package detectors

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/expr-lang/expr/vm"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

// Options tune the runtime.
type Options struct {
	// MaxGroups caps the groups held open at once, across rules and
	// workers. Events that would open more are dropped and reported.
	// 0 means DefaultMaxGroups.
	MaxGroups int
	// Lateness is how long after a window ends events may still arrive
	// for it: requests are logged when they complete, up to a minute
	// after they started. Windowed rules skip long-running requests that
	// lasted longer. 0 means DefaultLateness.
	Lateness time.Duration
	// Streaming closes windows as the input's time advances, keeping
	// memory flat. Only right for one time-ordered input (one apiserver's
	// log, or its rotated files in order); several apiservers' logs read
	// one after the other overlap in time, so leave it off for them.
	Streaming bool
	// ShowSecrets lets group_by keys and values print what they read from
	// the bodies of secrets, tokens and token reviews (audit.SecretBody);
	// otherwise those print redacted. match always sees them.
	ShowSecrets bool
}

// DefaultMaxGroups bounds memory to a few hundred MB in the worst case.
const DefaultMaxGroups = 200_000

// DefaultLateness covers kube-apiserver's 60s request timeout with room.
const DefaultLateness = time.Minute

// slack covers a log's own disorder: events are written when requests
// complete, by several goroutines.
const slack = 30 * time.Second

// checkEvery is how often (in events) a sink hands closed windows over.
const checkEvery = 4096

// partialGroups is how many groups a sink's part of a window holds before
// it is handed over while the window is still open.
var partialGroups = 4096

// Engine runs a set of compiled rules. Use NewSink as the Read sink
// factory, then Finish once Read has returned.
type Engine struct {
	rules []*rules.Rule
	comp  []*rules.Compiled
	// judgeNames are, per rule, the group view's names its when and
	// peers read (nil: all), so that the groups that do not fire cost a
	// small view.
	judgeNames []map[string]bool
	// layouts allocate each rule's groups.
	layouts []*groupLayout
	opts    Options
	idx     *index
	// noIndex is a test hook: every event is a candidate for every rule
	// and every match is run, as if there were no prefilter.
	noIndex bool

	envNames   []string
	windowed   bool
	identityAt bool

	openGroups atomic.Int64
	peakGroups atomic.Int64

	mu      sync.Mutex
	sinks   []*Sink
	merged  []ruleMerged
	fired   []firedGroup
	spanMin int64
	spanMax int64
	// evalMu serialises window evaluation: gvm, fired, evalErrors.
	evalMu sync.Mutex
	// gvm runs group programs, under evalMu.
	gvm vm.VM
	// ips and ips4 are identityAt's index, what the sinks hand over
	// (handIPs), under mu; ips4's users are numbered in ipUsers.
	ips        map[string]ipSeen
	ips4       ip4Map
	ipUsers    userTable
	ipsEvicted int64
	// files are the input names evidence points into (fileID); fileNames
	// is files as of its last growth, for fileName.
	files     []string
	fileIdx   map[string]uint32
	fileNames atomic.Pointer[[]string]
	// carrySpan is the time span of the runs before (Restore), folded into
	// whole-input rules' rates when carried is set.
	carried   bool
	carrySpan [2]int64
}

type ruleMerged struct {
	windows    map[int64]*window
	evalErrors int64
	// closedUpTo is the end of the latest window evaluated.
	closedUpTo int64
	late       int64
	dropped    int64
	long       int64
}

// firedGroup is a group whose when held, waiting for its values and text;
// or, once rendered, its finding.
type firedGroup struct {
	rule       int
	start, end int64
	g          *group
	env        map[string]any
	done       *Finding
}

// New prepares an engine for enabled, compiled rules.
func New(rs []*rules.Rule, opts Options) (*Engine, error) {
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = DefaultMaxGroups
	}
	if opts.Lateness <= 0 {
		opts.Lateness = DefaultLateness
	}
	e := &Engine{opts: opts, fileIdx: map[string]uint32{}}
	names := map[string]bool{}
	var pfs []rules.Filter
	for _, r := range rs {
		c := r.Compiled()
		if c == nil {
			return nil, fmt.Errorf("rule %s is not compiled", r.ID)
		}
		e.rules = append(e.rules, r)
		e.comp = append(e.comp, c)
		e.judgeNames = append(e.judgeNames, judgeNames(c))
		e.layouts = append(e.layouts, newGroupLayout(len(c.Keys), len(c.Aggs)))
		pfs = append(pfs, c.Prefilter)
		for _, n := range c.EventNames {
			names[n] = true
		}
		if !r.Window.Whole() {
			e.windowed = true
		}
		if c.UsesIdentityAt {
			e.identityAt = true
		}
	}
	if e.identityAt {
		e.ips = map[string]ipSeen{}
		e.ips4 = ip4Map{}
		e.ipUsers.ids = map[string]uint32{}
	}
	for n := range names {
		e.envNames = append(e.envNames, n)
	}
	sort.Strings(e.envNames)
	e.idx = buildIndex(pfs)
	e.merged = make([]ruleMerged, len(rs))
	for i := range e.merged {
		e.merged[i].windows = map[int64]*window{}
		e.merged[i].closedUpTo = -1 << 63
	}
	return e, nil
}

// NewSink returns a sink for one reading goroutine.
func (e *Engine) NewSink() audit.Sink {
	s := &Sink{
		e:        e,
		env:      audit.NewExprEnv(),
		m:        newBitset(len(e.idx.owner)),
		open:     make([][]*window, len(e.comp)),
		blind:    make([]blindCount, len(e.comp)),
		exprErrs: make([]exprErrors, len(e.comp)),
		minT:     1<<63 - 1,
		maxT:     -1 << 63,
	}
	s.env.Require(e.envNames)
	// Getters are the fast paths of plain-field keys and aggregate
	// arguments (the catalog's, nil for the others); what they build goes
	// to the sink's arena.
	for _, c := range e.comp {
		var kg, ag []func(*audit.Event, *[]byte) string
		for _, k := range c.Keys {
			kg = append(kg, fastGetter(k.Field))
		}
		for _, a := range c.Aggs {
			ag = append(ag, fastGetter(a.ArgField))
		}
		s.keyGet = append(s.keyGet, kg)
		s.aggGet = append(s.aggGet, ag)
	}
	if e.identityAt {
		s.ips = map[string]*ipSeen{}
		s.users.ids = map[string]uint32{}
	}
	e.mu.Lock()
	e.sinks = append(e.sinks, s)
	e.mu.Unlock()
	return s
}

// fastGetter is the catalog's getter of a plain field (rules.Key.Field,
// rules.Agg.ArgField), or nil.
func fastGetter(name string) func(*audit.Event, *[]byte) string {
	if f, ok := audit.LookupField(name); ok {
		return f.GetString
	}
	return nil
}

// Sink folds one worker's events into open windows.
type Sink struct {
	e    *Engine
	env  *audit.ExprEnv
	vm   vm.VM
	m    bitset
	open [][]*window // per rule, by start
	n    int
	// hi is the latest stageTimestamp seen; published is what the engine
	// may rely on: every window ending before published-lateness-slack
	// has been handed over.
	hi        int64
	lastCheck int64
	published atomic.Int64
	blind     []blindCount
	// ips is what the sink saw of identityAt's addresses since it last
	// handed them over (handIPs); ips4 is ips for IPv4 addresses, its
	// users numbered in users.
	ips   map[string]*ipSeen
	ips4  ip4Table
	users userTable
	minT  int64
	maxT  int64
	long  []int64
	// used counts the events rules saw.
	used           int64
	keyGet, aggGet [][]func(*audit.Event, *[]byte) string
	// arena holds the key and argument values getters build, for one
	// add: they are cloned when kept.
	arena       []byte
	keyBuf      []byte
	keyVals     []string
	aggBuf      []any
	aggStrs     []string // the values of aggregates read by fast getters
	lastFile    string
	lastFileIdx uint32
	// strs shares the copies of the users identityAt keeps for addresses
	// other than IPv4 ones (ips).
	strs interner
	// exprErrs counts, per rule, expressions that failed on an event.
	exprErrs []exprErrors
}

// exprErrors counts one rule's expressions that failed at run time, with
// the first message of each kind: nothing a rule fails on is dropped
// without a word.
type exprErrors struct {
	match, groupBy, agg                int64
	firstMatch, firstGroupBy, firstAgg string
}

// firstLine keeps an expr error's message without its source excerpt.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (x *exprErrors) add(o exprErrors) {
	if x.firstMatch == "" {
		x.firstMatch = o.firstMatch
	}
	if x.firstGroupBy == "" {
		x.firstGroupBy = o.firstGroupBy
	}
	if x.firstAgg == "" {
		x.firstAgg = o.firstAgg
	}
	x.match += o.match
	x.groupBy += o.groupBy
	x.agg += o.agg
}

type ipSeen struct {
	t    int64
	user string
}

// ip4Seen is ipSeen with its user numbered (Sink.users): nothing for the
// collector to follow in a map of 100,000 addresses.
type ip4Seen struct {
	t    int64
	user uint32
}

// userTable numbers the users of an ip4Seen map.
type userTable struct {
	users []string
	ids   map[string]uint32
	// ar holds the copies clone makes, side by side: every event
	// compares its user with its address's, and a few thousand users
	// in a few pages stay in the cache better than as separate objects.
	ar arena
	// recent holds, by slotOf, 1 + the number id gave last (0: none).
	recent [64]uint32
}

// id numbers u, copying it the first time when clone is set. Past
// maxUsers, the users m no longer holds are dropped first.
func (ut *userTable) id(u string, clone bool, m userHolder) uint32 {
	// The control plane's address serves many users in turn: a compare
	// with the user last numbered in u's slot spares the map's hash (and
	// checks the slot, whatever renumbering did since).
	k := slotOf(u) % uint32(len(ut.recent))
	if r := ut.recent[k]; r != 0 && int(r) <= len(ut.users) && ut.users[r-1] == u {
		return r - 1
	}
	if id, ok := ut.ids[u]; ok {
		ut.recent[k] = id + 1
		return id
	}
	if len(ut.users) >= maxUsers {
		ut.compact(m)
	}
	if clone {
		u = ut.ar.str(ut.ar.add(u))
	}
	id := uint32(len(ut.users))
	ut.users = append(ut.users, u)
	ut.ids[u] = id
	ut.recent[k] = id + 1
	return id
}

// compact renumbers the users m holds, dropping the others.
func (ut *userTable) compact(m userHolder) {
	old, n := ut.users, len(ut.ids)/2
	ut.users = nil
	ut.ids = make(map[string]uint32, n)
	ut.recent = [len(ut.recent)]uint32{}
	remap := make(map[uint32]uint32, n)
	m.renumber(func(u uint32) uint32 {
		n, ok := remap[u]
		if !ok {
			n = uint32(len(ut.users))
			ut.users = append(ut.users, old[u])
			ut.ids[old[u]] = n
			remap[u] = n
		}
		return n
	})
}

// reset forgets every user, keeping the map's room.
func (ut *userTable) reset() {
	clear(ut.ids)
	clear(ut.users)
	ut.users = ut.users[:0]
	ut.recent = [len(ut.recent)]uint32{}
}

// Event implements audit.Sink.
func (s *Sink) Event(ev *audit.Event) {
	s.used++
	// Window time: requestReceivedTimestamp, else stageTimestamp; an event
	// with neither counts at the Unix epoch (time.Time's zero value has no
	// UnixNano).
	var t int64
	switch {
	case !ev.Received.IsZero():
		t = ev.Received.UnixNano()
	case !ev.StageTime.IsZero():
		t = ev.StageTime.UnixNano()
	}
	if t < s.minT {
		s.minT = t
	}
	if t > s.maxT {
		s.maxT = t
	}
	// identityAt's address: looked up after the rules, so that the
	// entry's cache line, asked for here, has come in meanwhile (the
	// table is megabytes; the rules do not read it).
	var ip4 uint32
	ipKind := ipNone
	if s.ips != nil && ev.User.Username != "" && ev.Code != 401 {
		ipKind, ip4 = s.prefetchIP(ev)
	}
	s.rules(ev, t)
	s.seeAddr(ipKind, ip4, ev, t)
}

// seeAddr records the event's user as its address's identity, the
// address as prefetchIP found it.
func (s *Sink) seeAddr(kind int, a uint32, ev *audit.Event, t int64) {
	switch kind {
	case ipV4:
		s.seeIP4(a, ev.User.Username, t)
	case ipOther:
		s.seeIP(ev.SourceIP(), ev.User.Username, t)
	}
}

// The kinds of source address prefetchIP finds.
const (
	ipNone = iota
	ipV4
	ipOther
)

// prefetchIP parses the event's source address and, for an IPv4 one,
// prefetches its slot in the sink's table.
func (s *Sink) prefetchIP(ev *audit.Event) (int, uint32) {
	ip := ev.SourceIP()
	if ip == "" {
		return ipNone, 0
	}
	a, ok := parseIPv4(ip)
	if !ok {
		return ipOther, 0
	}
	if s.ips4.ents != nil {
		prefetch(unsafe.Pointer(&s.ips4.ents[s.ips4.slot(a)]))
	}
	return ipV4, a
}

// rules folds the event into the rules whose match it passes.
func (s *Sink) rules(ev *audit.Event, t int64) {
	e := s.e
	if e.windowed && e.opts.Streaming {
		st := t
		if !ev.StageTime.IsZero() {
			st = ev.StageTime.UnixNano()
		}
		if st > s.hi {
			s.hi = st
		}
		s.n++
		if s.n >= checkEvery || s.hi-s.lastCheck > int64(30*time.Second) {
			s.check()
		}
	}
	if e.noIndex {
		copy(s.m, e.idx.all)
	} else if !e.idx.candidates(ev, s.m) {
		return
	}
	envSet := false
	last := -1
	for w, word := range s.m {
		for word != 0 {
			bit := word & -word
			word &^= bit
			i := e.idx.owner[w*64+bits.TrailingZeros64(bit)]
			if i == last {
				continue // another term of the same rule
			}
			last = i
			c := e.comp[i]
			if c.NeedsRank > 1 {
				s.blind[i].see(ev, c.NeedsRank)
			}
			if !c.MatchExact || e.noIndex {
				if c.BodyNeeds != nil && !e.noIndex && allAbsent(ev, c.BodyNeeds) {
					continue // false without its body's paths
				}
				if !envSet {
					s.env.Set(ev)
					envSet = true
				}
				s.env.SetRedact(false) // match only tests
				prog := c.Match
				if c.Residual != nil && !e.noIndex {
					prog = c.Residual // what the index did not decide
				}
				out, err := s.vm.Run(prog, s.env)
				if err != nil && prog != c.Match {
					// The rule's own match, for an error that points into
					// what the rule says.
					out, err = s.vm.Run(c.Match, s.env)
				}
				if err != nil {
					x := &s.exprErrs[i]
					if x.match++; x.firstMatch == "" {
						x.firstMatch = firstLine(err.Error())
					}
					continue
				}
				if b, _ := out.(bool); !b {
					continue
				}
			}
			s.add(i, ev, t, &envSet)
		}
	}
}

// allAbsent reports whether the event certainly has none of the paths.
func allAbsent(ev *audit.Event, paths [][]string) bool {
	for _, p := range paths {
		if !ev.Absent(p) {
			return false
		}
	}
	return true
}

// seeIP4 records that IPv4 address a authenticated as user at t.
func (s *Sink) seeIP4(a uint32, user string, t int64) {
	v, slot := s.ips4.find(a)
	if v == nil {
		if s.ips4.len()+len(s.ips) >= ipHandoff {
			s.handIPs()
			_, slot = s.ips4.find(a)
		}
		s.ips4.insert(slot, a, t, s.users.id(user, true, &s.ips4))
		return
	}
	// The entry holds all there is (no second place in memory to
	// fetch); its user is looked up only when it changes.
	cur := s.users.users[v.user-1]
	if v.t > t || v.t == t && cur >= user {
		return
	}
	v.t = t
	if cur != user {
		// id may compact the users, renumbering v's: v is still the
		// slot of a (nothing moved).
		v.user = s.users.id(user, true, &s.ips4) + 1
	}
}

// seeIP records that address ip, not an IPv4 one, authenticated as user
// at t.
func (s *Sink) seeIP(ip, user string, t int64) {
	cur := s.ips[ip]
	if cur == nil {
		if s.ips4.len()+len(s.ips) >= ipHandoff {
			s.handIPs()
		}
		s.ips[strings.Clone(ip)] = &ipSeen{t: t, user: s.strs.clone(user)}
		return
	}
	if cur.t > t || cur.t == t && cur.user >= user {
		return
	}
	cur.t = t
	if cur.user != user {
		cur.user = s.strs.clone(user)
	}
}

// parseIPv4 reads a dotted-quad IPv4 address in its canonical form (no
// leading zeros): one number per address string, so that identityAt finds
// by the number what was seen under the same string.
func parseIPv4(s string) (uint32, bool) {
	if len(s) < 7 || len(s) > 15 {
		return 0, false
	}
	// Octet by octet, each of one to three digits: every event has an
	// address, so this is a loop of few branches.
	var a uint32
	i := 0
	for octet := 0; octet < 4; octet++ {
		if octet > 0 {
			if i >= len(s) || s[i] != '.' {
				return 0, false
			}
			i++
		}
		start := i
		var n uint32
		for i < len(s) && i-start < 3 {
			d := s[i] - '0'
			if d > 9 {
				break
			}
			n = n*10 + uint32(d)
			i++
		}
		if i == start || n > 255 || i-start > 1 && s[start] == '0' {
			return 0, false // no digit, too big, or a leading zero
		}
		a = a<<8 | n
	}
	return a, i == len(s)
}

// maxIPs bounds identityAt's index: past it, the addresses seen least
// recently are dropped (evictIPs), and counted.
var maxIPs = 1 << 17

// ipHandoff is how many addresses a sink keeps before it hands them to
// the engine's index (handIPs). A sink that hands over forgets what it
// held and meets the same addresses again as new: with maxIPs, only an
// input of more addresses than the index keeps anyway hands over before
// the end, and a sink's table (16 bytes an address, at most half full)
// is at most 4 MB.
var ipHandoff = 1 << 17

// maxUsers bounds a userTable: past it, the users no address holds any
// more are dropped (compact).
var maxUsers = 2 * maxIPs

// handIPs merges the sink's addresses into the engine's index and
// empties the sink's.
func (s *Sink) handIPs() {
	s.e.mu.Lock()
	s.handIPsLocked()
	s.e.mu.Unlock()
}

// handIPsLocked is handIPs with e.mu held.
func (s *Sink) handIPsLocked() {
	e := s.e
	for ip, seen := range s.ips {
		e.seeIP(ip, *seen)
	}
	s.ips4.each(func(a uint32, t int64, user uint32) {
		e.seeIP4(a, t, s.users.users[user])
	})
	clear(s.ips)
	s.ips4.reset()
	s.users.reset()
	s.strs = interner{}
}

// seeIP4 merges a sink's last identity of an IPv4 address. The user is
// already a copy.
func (e *Engine) seeIP4(a uint32, t int64, user string) {
	cur, ok := e.ips4[a]
	if !ok {
		if len(e.ips4)+len(e.ips) >= maxIPs {
			e.evictIPs()
		}
		e.ips4[a] = ip4Seen{t: t, user: e.ipUsers.id(user, false, e.ips4)}
		return
	}
	if t > cur.t || t == cur.t && user > e.ipUsers.users[cur.user] {
		e.ips4[a] = ip4Seen{t: t, user: e.ipUsers.id(user, false, e.ips4)}
	}
}

// evictIPs drops the quarter of the index's addresses seen least
// recently (and any seen at the same time as the last of them).
func (e *Engine) evictIPs() {
	ts := make([]int64, 0, len(e.ips4)+len(e.ips))
	for _, v := range e.ips4 {
		ts = append(ts, v.t)
	}
	for _, v := range e.ips {
		ts = append(ts, v.t)
	}
	slices.Sort(ts)
	limit := ts[len(ts)/4]
	for a, v := range e.ips4 {
		if v.t <= limit {
			delete(e.ips4, a)
			e.ipsEvicted++
		}
	}
	for ip, v := range e.ips {
		if v.t <= limit {
			delete(e.ips, ip)
			e.ipsEvicted++
		}
	}
}

// add folds a matched event into the rule's groups.
func (s *Sink) add(i int, ev *audit.Event, t int64, envSet *bool) {
	e := s.e
	r := e.rules[i]
	c := e.comp[i]
	if !r.Window.Whole() && !ev.StageTime.IsZero() && ev.StageTime.UnixNano()-t > int64(e.opts.Lateness) {
		if s.long == nil {
			s.long = make([]int64, len(e.comp))
		}
		s.long[i]++
		return
	}
	// The group key: the values joined by NUL.
	s.arena = s.arena[:0]
	s.keyBuf = s.keyBuf[:0]
	s.keyVals = s.keyVals[:0]
	for k, key := range c.Keys {
		var v string
		if get := s.keyGet[i][k]; get != nil {
			v = get(ev, &s.arena)
		} else {
			if !*envSet {
				s.env.Set(ev)
				*envSet = true
			}
			s.env.SetRedact(!e.opts.ShowSecrets) // keys are printed
			out, err := s.vm.Run(key.Prog, s.env)
			if err != nil {
				x := &s.exprErrs[i]
				if x.groupBy++; x.firstGroupBy == "" {
					x.firstGroupBy = firstLine(err.Error())
				}
				return
			}
			v = audit.ExprString(out)
		}
		if k > 0 {
			s.keyBuf = append(s.keyBuf, 0)
		}
		s.keyBuf = append(s.keyBuf, v...)
		s.keyVals = append(s.keyVals, v)
	}
	var aggVals []any
	if len(c.Aggs) > 0 {
		if cap(s.aggBuf) < len(c.Aggs) {
			s.aggBuf = make([]any, len(c.Aggs))
			s.aggStrs = make([]string, len(c.Aggs))
		}
		aggVals = s.aggBuf[:len(c.Aggs)]
		for a, ag := range c.Aggs {
			if ag.Shares >= 0 {
				continue // its state is another aggregate's
			}
			if get := s.aggGet[i][a]; get != nil {
				// Kept as a string: boxing it in aggVals would allocate.
				s.aggStrs[a] = get(ev, &s.arena)
				continue
			}
			if !*envSet {
				s.env.Set(ev)
				*envSet = true
			}
			s.env.SetRedact(!e.opts.ShowSecrets) // values are printed
			out, err := s.vm.Run(ag.Arg, s.env)
			if err != nil {
				x := &s.exprErrs[i]
				if x.agg++; x.firstAgg == "" {
					x.firstAgg = firstLine(err.Error())
				}
				out = nil
			}
			aggVals[a] = out
		}
	}
	// The key and its hash, once for all the windows the event is in.
	key := audit.StringView(s.keyBuf)
	h := hashKey(key)
	if r.Window.Whole() {
		s.addTo(i, s.windowAt(i, 0, 0), key, h, ev, t, aggVals)
		return
	}
	size := int64(r.Window.Size)
	slide := size
	if r.Window.Sliding() {
		slide = int64(r.Window.Slide)
	}
	last := floorDiv(t, slide) * slide
	for start := last; start > t-size; start -= slide {
		s.addTo(i, s.windowAt(i, start, start+size), key, h, ev, t, aggVals)
	}
}

func (s *Sink) addTo(i int, w *window, key string, h uint32, ev *audit.Event, t int64, aggVals []any) {
	c := s.e.comp[i]
	tab := w.tab
	gi, ok := tab.find(key, h)
	if !ok {
		if !s.e.reserveGroup() {
			s.e.dropped(i)
			return
		}
		gi = tab.insert(key, h, func(k int) int { return len(s.keyVals[k]) })
	}
	w.events++
	tab.see(gi, t, ev.AuditID, s.fileIndex(ev.Source.File), ev.Source.Offset)
	for a, ag := range c.Aggs {
		if ag.Shares < 0 {
			if s.aggGet[i][a] != nil {
				tab.addString(gi, a, ag.Kind, s.aggStrs[a], t, ev.AuditID)
			} else {
				tab.addValue(gi, a, ag.Kind, aggVals[a], t, ev.AuditID)
			}
		}
	}
}

// fileIndex numbers input names (1-based) so evidence does not hold a
// string per event.
func (s *Sink) fileIndex(name string) uint32 {
	if name == "" {
		return 0
	}
	// Events of one input share its name's string: compare pointers first.
	if s.lastFileIdx != 0 && (unsafe.StringData(name) == unsafe.StringData(s.lastFile) && len(name) == len(s.lastFile) || name == s.lastFile) {
		return s.lastFileIdx
	}
	e := s.e
	e.mu.Lock()
	idx := e.fileID(name)
	s.lastFile, s.lastFileIdx = e.files[idx-1], idx
	e.mu.Unlock()
	return idx
}

// fileID numbers an input name (1-based). Called with e.mu held.
func (e *Engine) fileID(name string) uint32 {
	idx, ok := e.fileIdx[name]
	if !ok {
		e.files = append(e.files, name)
		idx = uint32(len(e.files))
		e.fileIdx[name] = idx
		names := e.files
		e.fileNames.Store(&names)
	}
	return idx
}

// fileName is the name fileID numbered idx. It needs no lock: findings
// are rendered while other sinks read on and number new inputs.
func (e *Engine) fileName(idx uint32) string { return (*e.fileNames.Load())[idx-1] }

// windowAt finds or opens the sink's window of rule i starting at start.
func (s *Sink) windowAt(i int, start, end int64) *window {
	ws := s.open[i]
	for k := len(ws) - 1; k >= 0; k-- {
		if ws[k].start == start {
			return ws[k]
		}
		if ws[k].start < start {
			break
		}
	}
	w := s.e.newWindow(i, start, end)
	k := sort.Search(len(ws), func(k int) bool { return ws[k].start > start })
	ws = append(ws, nil)
	copy(ws[k+1:], ws[k:])
	ws[k] = w
	s.open[i] = ws
	return w
}

// check hands windows that time has passed to the engine and lets it
// evaluate those every sink is done with.
func (s *Sink) check() {
	s.n = 0
	s.lastCheck = s.hi
	e := s.e
	horizon := s.hi - int64(e.opts.Lateness) - int64(slack)
	var done []handoff
	for i, ws := range s.open {
		if !e.rules[i].Window.Whole() {
			k := 0
			for k < len(ws) && ws[k].end <= horizon {
				done = append(done, handoff{rule: i, w: ws[k]})
				k++
			}
			if k > 0 {
				s.open[i] = append(ws[:0], ws[k:]...)
				ws = s.open[i]
			}
		}
		// What a window still open has counted so far goes to the
		// engine too once it is large: the other sinks count the same
		// keys (every reader of a path, every node), and the engine holds
		// them once.
		for j, w := range ws {
			if w.tab.len() >= partialGroups {
				done = append(done, handoff{rule: i, w: w})
				ws[j] = e.newWindow(i, w.start, w.end)
			}
		}
	}
	e.mu.Lock()
	for _, h := range done {
		e.mergeWindow(h.rule, h.w)
	}
	s.published.Store(s.hi)
	ready := e.takeReady(false)
	e.mu.Unlock()
	e.evaluateAll(ready)
}

type handoff struct {
	rule int
	w    *window
}

func (e *Engine) reserveGroup() bool {
	n := e.openGroups.Add(1)
	if n > int64(e.opts.MaxGroups) {
		e.openGroups.Add(-1)
		return false
	}
	for {
		peak := e.peakGroups.Load()
		if n <= peak || e.peakGroups.CompareAndSwap(peak, n) {
			return true
		}
	}
}

func (e *Engine) dropped(i int) {
	e.mu.Lock()
	e.merged[i].dropped++
	e.mu.Unlock()
}

// mergeWindow adds a sink's part of a window to the merged one. Called
// with e.mu held.
func (e *Engine) mergeWindow(i int, w *window) {
	m := &e.merged[i]
	if !e.rules[i].Window.Whole() && w.end <= m.closedUpTo {
		// Evaluated already: the input was out of order by more than
		// the lateness.
		m.late += w.events
		e.openGroups.Add(-int64(w.tab.len()))
		w.tab.release()
		return
	}
	mw, ok := m.windows[w.start]
	if !ok {
		m.windows[w.start] = w
		return
	}
	both := mw.tab.mergeFrom(w.tab, e.comp[i].Aggs)
	e.openGroups.Add(-int64(both))
	mw.events += w.events
	w.tab.release()
}

// newWindow is an empty window of rule i.
func (e *Engine) newWindow(i int, start, end int64) *window {
	c := e.comp[i]
	return &window{start: start, end: end, tab: newTable(len(c.Keys), len(c.Aggs))}
}

// readyWindow is a merged window every sink has handed over.
type readyWindow struct {
	rule int
	w    *window
	// keep: the window stays open after its evaluation (a whole-input
	// rule's, suspended), so its table is not released.
	keep bool
}

// takeReady removes the merged windows every sink has handed over (all of
// them when final), in a deterministic order. Called with e.mu held; the
// caller evaluates them under evalMu, so other sinks keep merging.
func (e *Engine) takeReady(final bool) []readyWindow {
	horizon := int64(1<<63 - 1)
	if !final {
		any := false
		for _, s := range e.sinks {
			p := s.published.Load()
			if p == 0 {
				continue // has not seen an event yet
			}
			any = true
			horizon = min(horizon, p)
		}
		if !any {
			return nil
		}
		horizon -= int64(e.opts.Lateness) + int64(slack)
	}
	var out []readyWindow
	for i := range e.merged {
		m := &e.merged[i]
		if !final && e.rules[i].Window.Whole() {
			continue
		}
		upTo := horizon
		if final {
			upTo = 1<<63 - 1
		}
		for _, r := range e.takeEnded(i, upTo) {
			out = append(out, r)
			m.closedUpTo = max(m.closedUpTo, r.w.end)
		}
	}
	return out
}

// takeEnded removes rule i's merged windows that end by horizon and
// returns them oldest first. Called with e.mu held.
func (e *Engine) takeEnded(i int, horizon int64) []readyWindow {
	m := &e.merged[i]
	var starts []int64
	for start, w := range m.windows {
		if w.end <= horizon {
			starts = append(starts, start)
		}
	}
	sort.Slice(starts, func(a, b int) bool { return starts[a] < starts[b] })
	out := make([]readyWindow, 0, len(starts))
	for _, start := range starts {
		out = append(out, readyWindow{rule: i, w: m.windows[start]})
		delete(m.windows, start)
	}
	return out
}

// evaluateAll evaluates ready windows under evalMu.
func (e *Engine) evaluateAll(ready []readyWindow) {
	if len(ready) == 0 {
		return
	}
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	for _, r := range ready {
		e.evaluate(r.rule, r.w)
		if !r.keep {
			r.w.tab.release()
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}
