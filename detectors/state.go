package detectors

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

// MaxEvidence is how many auditIDs a finding carries: the earliest ones,
// by (time, auditID), so the choice does not depend on the reading order.
const MaxEvidence = 5

// maxDistinct bounds the values a group remembers per distinct()/values()
// aggregate; beyond it the smallest ones are kept and the count is a floor.
const maxDistinct = 1024

// idBuf holds an auditID without allocating, in 24 bytes. kube-apiserver's
// auditIDs are UUIDs: those (36 bytes with dashes, or the 32 hex digits
// alone, lower- or upper-case) are kept as their 16 bytes. Other IDs (a
// client's own Audit-ID header) are kept as written, cut to idRaw bytes.
type idBuf struct {
	b [idRaw]byte
	// n is the length of an ID kept as written (≤ idRaw), else idPacked
	// and the form of a UUID's text (idUpper, idNoDash).
	n uint8
}

const (
	idRaw    = 23
	idPacked = 0x80
	idUpper  = 1
	idNoDash = 2
)

// hexDigit maps a byte to its value as a hex digit, with hexLower or
// hexUpper for a letter's case, and hexBad when it is no hex digit.
var hexDigit = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = uint8(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = uint8(c-'a'+10) | hexLower
		case c >= 'A' && c <= 'F':
			t[c] = uint8(c-'A'+10) | hexUpper
		default:
			t[c] = hexBad
		}
	}
	return t
}()

const (
	hexLower = 0x10
	hexUpper = 0x20
	hexBad   = 0x40
)

// uuidHex is where the 32 hex digits of a UUID's text with dashes are.
var uuidHex = func() (pos [32]uint8) {
	k := 0
	for i := range 36 {
		if i != 8 && i != 13 && i != 18 && i != 23 {
			pos[k] = uint8(i)
			k++
		}
	}
	return pos
}()

// packUUID puts the 16 bytes of s into dst when s is a UUID's text in one
// of the forms idBuf packs, and returns the form. It runs for most events
// a rule counts (their evidence), so it reads through tables, not
// branches.
func packUUID(dst *[idRaw]byte, s string) (uint8, bool) {
	var form uint8
	var flags uint8
	switch len(s) {
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return 0, false
		}
		for k := range 16 {
			hi, lo := hexDigit[s[uuidHex[2*k]]], hexDigit[s[uuidHex[2*k+1]]]
			flags |= hi | lo
			dst[k] = hi<<4 | lo&0xf
		}
	case 32:
		form = idNoDash
		for k := range 16 {
			hi, lo := hexDigit[s[2*k]], hexDigit[s[2*k+1]]
			flags |= hi | lo
			dst[k] = hi<<4 | lo&0xf
		}
	default:
		return 0, false
	}
	switch flags &^ 0xf {
	case 0, hexLower:
	case hexUpper:
		form |= idUpper
	default:
		return 0, false // not hex, or mixed case: kept as written
	}
	return form, true
}

func makeID(s string) idBuf {
	var b idBuf
	if form, ok := packUUID(&b.b, s); ok {
		b.n = idPacked | form
		return b
	}
	b.n = uint8(copy(b.b[:], s))
	return b
}

// appendTo appends the ID's text.
func (b *idBuf) appendTo(dst []byte) []byte {
	if b.n&idPacked == 0 {
		return append(dst, b.b[:b.n]...)
	}
	digits := "0123456789abcdef"
	if b.n&idUpper != 0 {
		digits = "0123456789ABCDEF"
	}
	for i := range 16 {
		if b.n&idNoDash == 0 && (i == 4 || i == 6 || i == 8 || i == 10) {
			dst = append(dst, '-')
		}
		dst = append(dst, digits[b.b[i]>>4], digits[b.b[i]&15])
	}
	return dst
}

func (b *idBuf) String() string {
	var buf [36]byte
	return string(b.appendTo(buf[:0]))
}

// compare orders IDs as their texts order.
func (b *idBuf) compare(o *idBuf) int {
	if b.n == o.n && b.n&idPacked != 0 {
		// The same form: the bytes order as the digits do.
		return bytes.Compare(b.b[:16], o.b[:16])
	}
	var x, y [36]byte
	return bytes.Compare(b.appendTo(x[:0]), o.appendTo(y[:0]))
}

// compareString compares the ID with s as makeID keeps it.
func (b *idBuf) compareString(s string) int {
	s = cut(s)
	var x [36]byte
	return strings.Compare(audit.StringView(b.appendTo(x[:0])), s)
}

// cut is s as makeID keeps it.
func cut(s string) string {
	var scratch [idRaw]byte
	if _, ok := packUUID(&scratch, s); ok || len(s) <= idRaw {
		return s
	}
	return s[:idRaw]
}

// evRef is one event of a group, ordered by (t, id), in 40 bytes.
type evRef struct {
	t int64
	// fo is file+1, indexing the engine's input names (0: unknown), in
	// the high evFileBits bits, and the event's byte offset below.
	fo uint64
	id idBuf
}

const (
	evOffBits  = 40
	evFileBits = 64 - evOffBits
)

// makeRef is the evidence of an event read at off of input file (file+1;
// 0: unknown). An input past the 16 millionth, or an offset past the
// first TB of one, is kept as unknown: such a finding has no location.
func makeRef(t int64, id string, file uint32, off int64) evRef {
	r := evRef{t: t, id: makeID(id)}
	if file != 0 && file < 1<<evFileBits && off >= 0 && off < 1<<evOffBits {
		r.fo = uint64(file)<<evOffBits | uint64(off)
	}
	return r
}

// file is 1 + the index of the event's input, or 0 when unknown.
func (a *evRef) file() uint32 { return uint32(a.fo >> evOffBits) }

// off is the event's byte offset in its input.
func (a *evRef) off() int64 { return int64(a.fo & (1<<evOffBits - 1)) }

func (a *evRef) less(b *evRef) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	return a.id.compare(&b.id) < 0
}

// lessView compares with an event not yet copied.
func lessView(t int64, id string, b *evRef) bool {
	if t != b.t {
		return t < b.t
	}
	return b.id.compareString(id) > 0
}

// aggState is one aggregate of one group.
type aggState struct {
	// small holds a distinct set of up to smallSet values, sorted; set
	// takes over beyond (most groups see one or two values).
	small []string
	set   map[string]struct{}
	// lastVal is the last string added: most groups see the same value
	// again and again (a kubelet's user agent), so one compare saves a
	// lookup.
	lastVal  string
	overflow bool
	has      bool
	// fl is the event and value of first/last, allocated only for those
	// kinds: most aggregates are sets or sums, and a group holds one
	// aggState per aggregate, so it stays small.
	fl  *firstLast
	num float64
	n   int64
}

// firstLast is the state of first(x) and last(x).
type firstLast struct {
	at  evRef // the event whose value is kept
	val any
}

// group is the state of one group of one window.
type group struct {
	labels []string
	count  int64
	// first and last are the earliest and latest event times.
	first, last int64
	// evidence holds the earliest events, sorted, at most MaxEvidence;
	// it starts in ev0, as most groups stay small.
	evidence []evRef
	aggs     []aggState
	ev0      [1]evRef
}

// window is the groups of one window of one rule. Whole-input rules have
// one window with start == end == 0.
type window struct {
	start, end int64
	tab        *table
	// events counts the events added, to report late ones.
	events int64
}

// groupLayout allocates a rule's groups: the group, its labels and its
// aggregates in one object (one allocation, one place in memory for an
// event to touch), built once per rule shape with reflect.StructOf.
type groupLayout struct {
	typ            reflect.Type
	nlabels, naggs int
	labelsOff      uintptr
	aggsOff        uintptr
}

func newGroupLayout(nlabels, naggs int) *groupLayout {
	t := reflect.StructOf([]reflect.StructField{
		{Name: "G", Type: reflect.TypeFor[group]()},
		{Name: "L", Type: reflect.ArrayOf(nlabels, reflect.TypeFor[string]())},
		{Name: "A", Type: reflect.ArrayOf(naggs, reflect.TypeFor[aggState]())},
	})
	return &groupLayout{typ: t, nlabels: nlabels, naggs: naggs,
		labelsOff: t.Field(1).Offset, aggsOff: t.Field(2).Offset}
}

// new returns a group with room for its labels (to be set) and its
// aggregates.
func (l *groupLayout) new() *group {
	p := reflect.New(l.typ).UnsafePointer()
	g := (*group)(p)
	if l.nlabels > 0 {
		g.labels = unsafe.Slice((*string)(unsafe.Add(p, l.labelsOff)), l.nlabels)
	}
	if l.naggs > 0 {
		g.aggs = unsafe.Slice((*aggState)(unsafe.Add(p, l.aggsOff)), l.naggs)
	}
	g.evidence = g.ev0[:0]
	return g
}

func (g *group) addEvidence(r evRef) {
	n := len(g.evidence)
	i := sort.Search(n, func(i int) bool { return r.less(&g.evidence[i]) })
	if i > 0 && !g.evidence[i-1].less(&r) {
		return // the same event, seen through another window partial
	}
	if i >= MaxEvidence {
		return
	}
	switch {
	case g.evidence == nil:
		g.evidence = g.ev0[:0]
	case n == cap(g.evidence) && n < MaxEvidence:
		grown := make([]evRef, n, MaxEvidence)
		copy(grown, g.evidence)
		g.evidence = grown
	}
	if n < MaxEvidence {
		g.evidence = g.evidence[:n+1]
	}
	copy(g.evidence[i+1:], g.evidence[i:len(g.evidence)-1])
	g.evidence[i] = r
}

// events returns the evidence.
func (g *group) events() []evRef { return g.evidence }

func (a *aggState) merge(o *aggState, kind rules.AggKind) {
	if !o.has {
		return
	}
	if !a.has {
		*a = *o
		if o.fl != nil {
			fl := *o.fl
			a.fl = &fl
		}
		return
	}
	switch kind {
	case rules.AggDistinct, rules.AggValues:
		for _, v := range o.small {
			a.addValue(v)
		}
		for v := range o.set {
			a.addValue(v)
		}
		a.overflow = a.overflow || o.overflow
	case rules.AggFirst:
		if o.fl.at.less(&a.fl.at) {
			*a.fl = *o.fl
		}
	case rules.AggLast:
		if a.fl.at.less(&o.fl.at) {
			*a.fl = *o.fl
		}
	case rules.AggMin:
		a.num = min(a.num, o.num)
	case rules.AggMax:
		a.num = max(a.num, o.num)
	case rules.AggSum, rules.AggAvg:
		a.num += o.num
		a.n += o.n
	}
}

// smallSet is how many distinct values live in a sorted slice before a
// map takes over.
const smallSet = 8

func (a *aggState) has_(v string) bool {
	if a.set != nil {
		_, ok := a.set[v]
		return ok
	}
	// A few values: compared in turn, by their lengths first (a binary
	// search compares every probe's bytes; a node's resources number
	// about smallSet and differ in length).
	for _, x := range a.small {
		if x == v {
			return true
		}
	}
	return false
}

// size is the number of distinct values kept.
func (a *aggState) size() int {
	if a.set != nil {
		return len(a.set)
	}
	return len(a.small)
}

// addValue adds a (cloned) string to a distinct set, keeping the smallest
// maxDistinct values so that the kept set does not depend on order.
func (a *aggState) addValue(v string) {
	if a.set == nil {
		i := sort.SearchStrings(a.small, v)
		if i < len(a.small) && a.small[i] == v {
			return
		}
		if len(a.small) < smallSet {
			a.small = append(a.small, "")
			copy(a.small[i+1:], a.small[i:])
			a.small[i] = v
			return
		}
		a.set = make(map[string]struct{}, 2*smallSet)
		for _, x := range a.small {
			a.set[x] = struct{}{}
		}
		a.small = nil
	}
	if _, ok := a.set[v]; ok {
		return
	}
	a.set[v] = struct{}{}
	if len(a.set) > maxDistinct {
		a.overflow = true
		largest := ""
		for k := range a.set {
			if k > largest {
				largest = k
			}
		}
		delete(a.set, largest)
	}
}

// cloner copies strings an aggregate keeps out of the event they view.
type cloner interface{ clone(s string) string }

// interner shares copies of strings. It holds at most maxInterned
// strings of at most maxInternLen bytes; others are copied each time.
type interner struct {
	m map[string]string
}

const (
	maxInterned  = 1 << 15
	maxInternLen = 256
)

// clone returns a copy of s that outlives the event s points into.
func (in *interner) clone(s string) string {
	if len(s) > maxInternLen {
		return strings.Clone(s)
	}
	if v, ok := in.m[s]; ok {
		return v
	}
	c := strings.Clone(s)
	if in.m == nil {
		in.m = make(map[string]string)
	}
	if len(in.m) < maxInterned {
		in.m[c] = c
	}
	return c
}

// addEventString is addEventValue for a string value, without boxing it.
func (a *aggState) addEventString(kind rules.AggKind, x string, t int64, id string, strs cloner) {
	if kind != rules.AggDistinct && kind != rules.AggValues {
		a.addEventValue(kind, x, t, id, strs)
		return
	}
	if a.has && x == a.lastVal {
		return
	}
	a.has = true
	if a.has_(x) {
		return
	}
	a.lastVal = strs.clone(x)
	a.addValue(a.lastVal)
}

// addEventValue records one event's value of the aggregate's argument.
// Strings are cloned: event strings do not outlive the event.
func (a *aggState) addEventValue(kind rules.AggKind, v any, t int64, id string, strs cloner) {
	switch kind {
	case rules.AggDistinct, rules.AggValues:
		switch x := v.(type) {
		case string:
			a.addEventString(kind, x, t, id, strs)
			return
		case []string:
			for _, s := range x {
				if !a.has_(s) {
					a.addValue(strs.clone(s))
				}
			}
		case []any:
			for _, s := range x {
				a.addValue(audit.ExprStringClone(s))
			}
		case nil:
			return
		default:
			a.addValue(audit.ExprStringClone(x))
		}
		a.has = true
	case rules.AggFirst, rules.AggLast:
		if a.has {
			earlier := lessView(t, id, &a.fl.at)
			if kind == rules.AggFirst && !earlier || kind == rules.AggLast && (earlier || t == a.fl.at.t && a.fl.at.id.compareString(id) == 0) {
				return
			}
		}
		if a.fl == nil {
			a.fl = &firstLast{}
		}
		a.fl.at = evRef{t: t, id: makeID(id)}
		a.fl.val = keepValue(v)
		a.has = true
	default:
		f, ok := toFloat(v)
		if !ok {
			return
		}
		switch {
		case !a.has:
			a.num = f
			a.n = 1
		case kind == rules.AggMin:
			a.num = min(a.num, f)
		case kind == rules.AggMax:
			a.num = max(a.num, f)
		default:
			a.num += f
			a.n++
		}
		a.has = true
	}
}

// result is the aggregate's value in the group view.
func (a *aggState) result(ag rules.Agg) any {
	switch ag.Kind {
	case rules.AggDistinct:
		return a.size()
	case rules.AggValues:
		out := make([]string, 0, a.size())
		out = append(out, a.small...)
		for v := range a.set {
			out = append(out, v)
		}
		sort.Strings(out)
		return out
	case rules.AggFirst, rules.AggLast:
		if !a.has {
			return rules.AggZero(ag)
		}
		zero := rules.AggZero(ag)
		if _, isFloat := zero.(float64); isFloat {
			f, _ := toFloat(a.fl.val)
			return f
		}
		if reflect.TypeOf(zero) == reflect.TypeOf(a.fl.val) {
			return a.fl.val
		}
		return fmt.Sprint(a.fl.val)
	case rules.AggAvg:
		if a.n == 0 {
			return 0.0
		}
		return orderFree(a.num / float64(a.n))
	}
	if !a.has {
		return 0.0
	}
	return orderFree(a.num)
}

// orderFree rounds a sum to 12 significant digits: floating-point addition
// is not associative, and the last digits of a sum depend on the order the
// events came in (workers, merged inputs), which results must not.
func orderFree(x float64) float64 {
	if x == 0 || math.IsInf(x, 0) || math.IsNaN(x) {
		return x
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 12, 64), 64)
	if err != nil {
		return x
	}
	return r
}

func keepValue(v any) any {
	switch x := v.(type) {
	case string:
		return strings.Clone(x)
	case bool, int, int64, float64, time.Time:
		return x
	case nil:
		return nil
	}
	return audit.ExprStringClone(v)
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}
