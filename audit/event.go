package audit

import (
	"encoding/binary"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"
)

// Audit stages, as written by kube-apiserver.
const (
	StageRequestReceived  = "RequestReceived"
	StageResponseStarted  = "ResponseStarted"
	StageResponseComplete = "ResponseComplete"
	StagePanic            = "Panic"
)

// Audit levels, lowest first.
const (
	LevelNone            = "None"
	LevelMetadata        = "Metadata"
	LevelRequest         = "Request"
	LevelRequestResponse = "RequestResponse"
)

// LevelRank orders audit levels so a rule can say "needs Request".
// Unknown levels rank 0, like None.
func LevelRank(level string) int {
	switch level {
	case LevelMetadata:
		return 1
	case LevelRequest:
		return 2
	case LevelRequestResponse:
		return 3
	}
	return 0
}

// UserInfo is user or impersonatedUser of an event.
type UserInfo struct {
	Username string
	UID      string
	Groups   []string
	extra    []byte // the raw user.extra object
	arena    *[]byte
	// nodeName is Extra(ExtraNodeName), once nodeRead (the scan reads
	// it when eager).
	nodeName string
	nodeRead bool
}

// Extra returns the first value of user.extra[key], or "".
func (u *UserInfo) Extra(key string) string {
	return lookupString(u.extra, key, u.arena)
}

// ObjectRef is the event's objectRef; all fields are empty for
// non-resource requests (/healthz, /apis discovery...).
type ObjectRef struct {
	Resource        string
	Namespace       string
	Name            string
	UID             string
	APIGroup        string
	APIVersion      string
	ResourceVersion string
	Subresource     string
}

// Event is a read-only view of one audit event.
//
// Strings point into the parser's memory: they are valid only during the
// Sink.Event call that received the event. Copy (strings.Clone) anything kept
// longer. The view is reused for the next event.
type Event struct {
	APIVersion       string
	AuditID          string
	Stage            string
	Level            string
	Verb             string
	RequestURI       string
	UserAgent        string
	User             UserInfo
	ImpersonatedUser UserInfo
	SourceIPs        []string
	ObjectRef        ObjectRef
	// Code is responseStatus.code; 0 when the event has no responseStatus
	// (RequestReceived stage).
	Code int
	// Status, Reason and Message are responseStatus.status/reason/message.
	Status  string
	Reason  string
	Message string
	// Received is requestReceivedTimestamp, StageTime is stageTimestamp.
	Received  time.Time
	StageTime time.Time

	// Source is where the event was read from: file name (or "-") and the
	// byte offset of its line in the decompressed stream.
	Source Position

	// raw is the event's JSON; annotations the raw annotations object.
	raw         []byte
	annotations []byte
	// arena holds unescaped strings of this event.
	arena  []byte
	hasImp bool
	// lazy parses raw on demand (Get); val caches that parse.
	lazy *fastjson.Parser
	val  *fastjson.Value
	// bodies are the raw requestObject and responseObject (the first of
	// each key), and bodyVals their parses: a path into a body parses the
	// body alone, not the event around it (a pod's spec, twice). hasBodies
	// says the scanner looked for them.
	bodies    [2][]byte
	bodyVals  [2]*fastjson.Value
	bodyParse *[2]fastjson.Parser
	hasBodies bool
	// bodyPlain is annPlain for each body.
	bodyPlain [2]uint8
	// annKV are the annotations as Annotation reads them, once annRead.
	annKV   []annKV
	annRead bool
	// annPlain is 1 when annotations has no \/ or \u escape, 2 when it
	// has, 0 until Annotation looked.
	annPlain uint8
	// legacyTime (timestamp) and metaTime (metadata.creationTimestamp)
	// are the fallbacks of TimeFields; timeFrom indexes the one used;
	// badTime is the first timestamp that did not parse.
	legacyTime, metaTime time.Time
	timeFrom             uint8
	badTime              string
}

// Position names a place in an input.
type Position struct {
	File   string
	Offset int64
	// Input is the input's index in the read, which orders inputs (a
	// rotated set oldest first) where their names do not.
	Input int
}

// Before orders positions as the reader read them: by input, then offset.
func (p Position) Before(o Position) bool {
	if p.Input != o.Input {
		return p.Input < o.Input
	}
	return p.Offset < o.Offset
}

func (e *Event) reset() {
	groups, ips, igroups, arena, lazy, bp, ann := e.User.Groups[:0], e.SourceIPs[:0], e.ImpersonatedUser.Groups[:0], e.arena[:0], e.lazy, e.bodyParse, e.annKV[:0]
	*e = Event{}
	e.User.Groups, e.SourceIPs, e.ImpersonatedUser.Groups, e.arena, e.lazy, e.bodyParse, e.annKV = groups, ips, igroups, arena, lazy, bp, ann
}

// HasImpersonation reports whether impersonatedUser is set.
func (e *Event) HasImpersonation() bool { return e.hasImp }

// SourceIP is the first source IP (the original client), or "".
func (e *Event) SourceIP() string {
	if len(e.SourceIPs) == 0 {
		return ""
	}
	return e.SourceIPs[0]
}

// Annotation returns annotations[key], or "".
func (e *Event) Annotation(key string) string {
	// Detect asks for a few annotations of every event (the decision, a
	// rule's prefilter keys): the object is read once, on the first ask.
	if !e.annRead {
		if len(e.annotations) == 0 {
			return ""
		}
		if plainOnce(&e.annPlain, e.annotations) && searchableKey(key) && !keyIn(StringView(e.annotations), key) {
			return "" // (see searchableKey)
		}
		e.annRead = true
		e.annKV = appendAnnotations(e.annKV[:0], e.annotations, &e.arena)
	}
	for i := range e.annKV {
		kv := &e.annKV[i]
		if kv.k != key {
			continue
		}
		if kv.raw {
			start := len(e.arena)
			out, ok := unescape(e.arena, unsafe.Slice(unsafe.StringData(kv.v), len(kv.v)))
			if !ok {
				return "" // cannot happen: the scanner checked the escapes
			}
			e.arena = out
			kv.v, kv.raw = StringView(out[start:]), false
		}
		return kv.v
	}
	return ""
}

// VisitAnnotations calls fn for each annotation, in the event's order.
func (e *Event) VisitAnnotations(fn func(key, value string)) {
	visitStrings(e.annotations, &e.arena, fn)
}

// Value returns the whole event parsed as a fastjson value, for access to
// any path (requestObject, responseObject, ...). It is parsed on first use
// and valid only during the Sink.Event call.
func (e *Event) Value() *fastjson.Value {
	if e.val != nil || len(e.raw) == 0 {
		return e.val
	}
	if e.lazy == nil {
		e.lazy = &fastjson.Parser{}
	}
	v, err := e.lazy.ParseBytes(e.raw)
	if err != nil {
		return nil
	}
	e.val = v
	return v
}

// Get returns the value at a path of the raw event (e.g. "requestObject",
// "spec", "containers"), or nil. Valid only during the Sink.Event call.
func (e *Event) Get(path ...string) *fastjson.Value {
	v, rest := e.at(path)
	if v == nil {
		return nil
	}
	return v.Get(rest...)
}

// bodyKeys are the keys of Event.bodies.
var bodyKeys = [2]string{"requestObject", "responseObject"}

// at returns where a path starts: the parsed body it goes into and the
// rest of the path, or the whole event and the path.
func (e *Event) at(path []string) (*fastjson.Value, []string) {
	if len(path) > 0 && e.hasBodies && e.val == nil {
		for k, key := range bodyKeys {
			if path[0] != key {
				continue
			}
			if e.bodyVals[k] == nil {
				if e.bodies[k] == nil || e.keysAbsent(k, path[1:]) {
					return nil, nil
				}
				if e.bodyParse == nil {
					e.bodyParse = new([2]fastjson.Parser)
				}
				v, err := e.bodyParse[k].ParseBytes(e.bodies[k])
				if err != nil {
					return nil, nil
				}
				e.bodyVals[k] = v
			}
			return e.bodyVals[k], path[1:]
		}
	}
	return e.Value(), path
}

// Absent reports whether the value at path (a get or getAll path, split
// at its dots, "*" for any item) into requestObject or responseObject is
// certainly absent: the body is not there, or not yet parsed and without
// some key of the path (keysAbsent). False means not known.
func (e *Event) Absent(path []string) bool {
	if len(path) == 0 || !e.hasBodies || e.val != nil {
		return false
	}
	for k, key := range bodyKeys {
		if path[0] == key {
			if e.bodyVals[k] != nil {
				return false
			}
			return e.bodies[k] == nil || e.keysAbsent(k, path[1:])
		}
	}
	return false
}

// keysAbsent reports whether body k (not parsed yet) certainly holds no
// value at path, without parsing it: a key of the path is nowhere in its
// bytes (see searchableKey). Rules ask each pod created whether its spec
// sets hostNetwork, privileged, a hostPath, which most never do, and the
// search costs a fraction of the parse. Segments of digits may index a
// list and "*" matches anything: those are not looked for. The last
// segments are looked for first, as they are the rarer ones.
func (e *Event) keysAbsent(k int, path []string) bool {
	if !plainOnce(&e.bodyPlain[k], e.bodies[k]) {
		return false
	}
	body := StringView(e.bodies[k])
	for i := len(path) - 1; i >= 0; i-- {
		seg := path[i]
		if seg == "*" || allDigits(seg) || !searchableKey(seg) {
			continue
		}
		if !keyIn(body, seg) {
			return true
		}
	}
	return false
}

// plainOnce is plainEscapes(obj), worked out on the first call for the
// state (0 not yet, 1 plain, 2 not) and remembered there.
func plainOnce(state *uint8, obj []byte) bool {
	if *state == 0 {
		*state = 2
		if plainEscapes(obj) {
			*state = 1
		}
	}
	return *state == 1
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// RawJSON is the event's JSON as read: a view, valid as long as the
// event's input bytes are (AppendJSON copies it).
func (e *Event) RawJSON() []byte { return e.raw }

// AppendJSON appends the event's JSON to dst.
func (e *Event) AppendJSON(dst []byte) []byte {
	return append(dst, e.raw...)
}

// Latency is stageTimestamp - requestReceivedTimestamp. It means the
// request's latency only for ResponseComplete events of requests that are
// not long-running.
func (e *Event) Latency() time.Duration {
	if !e.HasLatency() {
		return 0
	}
	return e.StageTime.Sub(e.Received)
}

// HasLatency reports whether the event tells how long the request took:
// it has both requestReceivedTimestamp and stageTimestamp. GKE's entries,
// v1beta1 events and events timed by a fallback do not.
func (e *Event) HasLatency() bool {
	return e.timeFrom == 0 && !e.Received.IsZero() && !e.StageTime.IsZero()
}

// LongRunning reports whether kube-apiserver treats the request as
// long-running (the same check as its BasicLongRunningRequestCheck: watch
// and proxy verbs, attach/exec/proxy/log/portforward subresources,
// /debug/pprof). Only long-running requests log a ResponseStarted stage.
func (e *Event) LongRunning() bool {
	switch e.Verb {
	case "watch", "proxy":
		return true
	}
	if e.ObjectRef.Resource != "" {
		switch e.ObjectRef.Subresource {
		case "attach", "exec", "proxy", "log", "portforward":
			return true
		}
		return false
	}
	return strings.HasPrefix(e.RequestURI, "/debug/pprof/")
}

// IsError reports a 4xx or 5xx response.
func (e *Event) IsError() bool { return e.Code >= 400 }

// parseTime parses the RFC 3339 timestamps kube-apiserver writes
// (metav1.MicroTime: 2026-11-24T10:00:00.123456Z) without allocating, and
// falls back to time.Parse for anything else. It returns the zero time for
// an unparsable value.
func parseTime(b []byte) time.Time {
	if t, ok := parseTimeFast(b); ok {
		return t
	}
	if len(b) == 0 {
		return time.Time{}
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, string(b)); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// timeLayouts are what parseTime accepts besides what the apiserver writes:
// RFC 3339 with any offset, and the forms exporters rewrite it to (a space
// for the T; no zone, read as UTC).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// ParseTimeBytes parses a timestamp as parseTime does, from bytes,
// without allocating for the apiserver's own format.
func ParseTimeBytes(b []byte) (time.Time, bool) {
	t := parseTime(b)
	return t, !t.IsZero()
}

// ParseTime parses an RFC 3339 timestamp as found in audit events.
func ParseTime(s string) (time.Time, bool) {
	t := parseTime([]byte(s))
	return t, !t.IsZero()
}

func parseTimeFast(b []byte) (time.Time, bool) {
	// YYYY-MM-DDTHH:MM:SS[.fffffffff]Z
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	nsec, ok := fraction(b[19 : len(b)-1])
	if !ok {
		return time.Time{}, false
	}
	days := daysFromCivil(year, month, day)
	unix := int64(days)*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(unix, nsec).UTC(), true
}

// fraction reads a timestamp's fraction of a second (".123456", or none)
// as nanoseconds.
func fraction(rest []byte) (int64, bool) {
	if len(rest) == 0 {
		return 0, true
	}
	if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
		return 0, false
	}
	var n int64
	for _, c := range rest[1:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	for i := len(rest) - 1; i < 9; i++ {
		n *= 10
	}
	return n, true
}

// minuteCache remembers the minute of the last timestamp parsed
// ("YYYY-MM-DDTHH:MM", which an event's timestamps and the next event's
// nearly always share) and its Unix time: a timestamp in that minute is
// read from its seconds and fraction alone.
type minuteCache struct {
	lo, hi uint64 // the minute's 16 bytes, little-endian
	unix   int64
	set    bool
}

// parse is parseTime with the cache (nil: none).
func (c *minuteCache) parse(b []byte) time.Time {
	if c == nil {
		return parseTime(b)
	}
	if len(b) >= 20 && c.set && b[len(b)-1] == 'Z' && b[16] == ':' &&
		binary.LittleEndian.Uint64(b) == c.lo && binary.LittleEndian.Uint64(b[8:]) == c.hi {
		// Seconds 00-59; a leap second (60) takes the long way.
		if s0, s1 := b[17]-'0', b[18]-'0'; s0 <= 5 && s1 <= 9 {
			if nsec, ok := fraction(b[19 : len(b)-1]); ok {
				return time.Unix(c.unix+int64(s0)*10+int64(s1), nsec).UTC()
			}
		}
	}
	t, ok := parseTimeFast(b)
	if !ok {
		return parseTime(b)
	}
	c.lo, c.hi = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	c.unix = t.Unix() - int64(t.Second())
	c.set = true
	return t
}

// daysFromCivil is Howard Hinnant's days_from_civil: days since 1970-01-01.
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// Sink consumes events. The reader (sources.Read) creates one Sink per
// worker and one for the stage sequencer, all from its own goroutine before
// the first event, and calls each Sink from a single goroutine, so a Sink
// needs no locking; the caller merges its sinks after Read returns. The merge must
// not depend on how events were split between sinks, so that results are the
// same for 1 and N workers.
type Sink interface {
	Event(e *Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(e *Event)

// Event calls f.
func (f SinkFunc) Event(e *Event) { f(e) }
