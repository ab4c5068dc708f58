package audit

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads the fields of an audit event straight from its JSON bytes,
// without building a tree: the hot path of every command. Values it does not
// need (requestObject, responseObject, ...) are skipped, but still checked
// for well-formedness, so a damaged line is still reported as malformed.
// Strings without escapes are views into the line; escaped strings are
// unescaped into the event's arena.
type scanner struct {
	b     []byte
	i     int
	arena *[]byte
	// bm is b's bitmap of quotes and backslashes (see classify), or nil.
	bm []uint64
	// tc is the decoder's timestamp cache, or nil.
	tc *minuteCache
	// eager is Decoder.Eager.
	eager bool
	// keyIdx is, in objectIn's field callback, the index of the key in
	// the object's keyOrder, or -1: a switch on it is a jump.
	keyIdx int
}

type timeT = time.Time

func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return // kube-apiserver writes compact JSON: the common case
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// rawString scans a string at s.i and returns its raw content (escapes
// kept) and whether it has escapes. With the line's bitmap, the next quote
// or backslash is the lowest bit set from j on; escapes are checked on the
// way (without, rawStringWords).
func (s *scanner) rawString() ([]byte, bool, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, false
	}
	if s.bm == nil {
		return s.rawStringWords()
	}
	// The loop of stringEnd, inline: a call here, for every string of
	// every event, cost 9% of top's instructions.
	b, bm := s.b, s.bm
	start := s.i + 1
	j := start
	escaped := false
	for {
		w := j >> 6
		if w >= len(bm) {
			return nil, false, false
		}
		m := bm[w] >> (uint(j) & 63)
		for m == 0 {
			w++
			if w >= len(bm) {
				return nil, false, false
			}
			m = bm[w]
			j = w << 6
		}
		j += bits.TrailingZeros64(m)
		if j >= len(b) {
			return nil, false, false
		}
		if b[j] == '"' {
			break
		}
		// An escape, checked here rather than by validEscapes after.
		escaped = true
		n := escapeLen(b, j)
		if n == 0 {
			return nil, false, false
		}
		j += n
	}
	s.i = j + 1
	return b[start:j], escaped, true
}

// stringEnd is where the string whose quote is at b[i] ends (the index
// after its closing quote; -1 when it is not a JSON string) and whether
// it has escapes, found through b's bitmap bm: the next quote or
// backslash is the lowest bit set from j on. Escapes are checked on the
// way. On locals, without the scanner's fields: skip's loop calls it
// (rawString has the same loop inline).
func stringEnd(b []byte, bm []uint64, i int) (int, bool) {
	j := i + 1
	escaped := false
	for {
		w := j >> 6
		if w >= len(bm) {
			return -1, false
		}
		m := bm[w] >> (uint(j) & 63)
		for m == 0 {
			w++
			if w >= len(bm) {
				return -1, false
			}
			m = bm[w]
			j = w << 6
		}
		j += bits.TrailingZeros64(m)
		if j >= len(b) {
			return -1, false
		}
		if b[j] == '"' {
			return j + 1, escaped
		}
		escaped = true
		n := escapeLen(b, j)
		if n == 0 {
			return -1, false
		}
		j += n
	}
}

// rawStringWords is rawString without a bitmap: eight bytes at a time.
func (s *scanner) rawStringWords() ([]byte, bool, bool) {
	start := s.i + 1
	b := s.b
	j := start
	escaped := false
	// One pass for the closing quote and escapes: audit strings are short,
	// so a plain loop beats two vectorized searches and their call costs.
	for {
		// Eight bytes at a time while none is a quote or a backslash; the
		// lowest flagged byte of a word is the first special one (a
		// borrow can only flag bytes above it).
		for j+8 <= len(b) {
			if m := specialMask(binary.LittleEndian.Uint64(b[j:])); m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		for j < len(b) && b[j] != '"' && b[j] != '\\' {
			j++
		}
		if j >= len(b) {
			return nil, false, false
		}
		if b[j] == '"' {
			break
		}
		escaped = true
		j += 2 // the escape and the escaped byte
	}
	raw := b[start:j]
	// Raw control characters are accepted, as fastjson and kube-apiserver's
	// readers do; checking them byte by byte would halve the scan speed.
	if escaped && !validEscapes(raw) {
		return nil, false, false
	}
	s.i = j + 1
	return raw, escaped, true
}

const (
	lsb         = 0x0101010101010101
	msb         = 0x8080808080808080
	quotes      = '"' * lsb
	backslashes = '\\' * lsb
)

// specialMask has the high bit of each byte of x that may be a quote or a
// backslash (a byte of x^quotes or x^backslashes is zero); the lowest one
// set is exact.
func specialMask(x uint64) uint64 {
	q, b := x^quotes, x^backslashes
	return ((q-lsb)&^q | (b-lsb)&^b) & msb
}

// str scans a string and returns its value.
func (s *scanner) str() ([]byte, bool) {
	raw, escaped, ok := s.rawString()
	if !ok {
		return nil, false
	}
	if !escaped {
		return raw, true
	}
	return s.unescaped(raw)
}

// unescaped unescapes raw into the arena.
func (s *scanner) unescaped(raw []byte) ([]byte, bool) {
	start := len(*s.arena)
	out, ok := unescape(*s.arena, raw)
	if !ok {
		return nil, false
	}
	*s.arena = out
	return out[start:], true
}

// unescape appends the unescaped form of a JSON string's raw content.
func unescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(raw) {
			return dst, false
		}
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw[i+1:])
			if !ok {
				return dst, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 < len(raw)+0 && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if r2, ok := hex4(raw[i+3:]); ok {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func validEscapes(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		n := escapeLen(raw, i)
		if n == 0 {
			return false
		}
		i += n - 1
	}
	return true
}

// escapeLen is the length of the escape whose backslash is b[j]: 2, or 6
// for \uXXXX; 0 if it is not a JSON escape.
func escapeLen(b []byte, j int) int {
	if j+1 >= len(b) {
		return 0
	}
	switch b[j+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if _, ok := hex4(b[j+2:]); ok {
			return 6
		}
	}
	return 0
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// wordsEnd is stringEnd without a bitmap (rawStringWords), for skip.
func (s *scanner) wordsEnd(i int) int {
	s.i = i
	if _, _, ok := s.rawStringWords(); !ok {
		return -1
	}
	return s.i
}

// spaceEnd is the first index from i that is not white space.
func spaceEnd(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
}

// literalAt reports whether b[i:] starts with lit.
func literalAt(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// maxDepth is how deep values nest before skip gives up (as
// encoding/json's limit, a bound on the work of a hostile line).
const maxDepth = 300

// skip scans over any value, checking its structure: the value at s.i,
// at nesting depth depth, must be JSON, and nesting may not exceed
// maxDepth. One loop with the position in a register and a bit stack of
// the open containers: bodies are many small values, and a call per
// value, reloading the scanner's fields at each, cost twice as much.
// skipRecursive is the definition.
func (s *scanner) skip(depth int) bool {
	b, bm := s.b, s.bm
	i := s.i
	// open has a bit per container opened here, set for arrays.
	var open [(maxDepth + 64) / 64]uint64
	n := 0 // containers open
value:
	if depth+n > maxDepth {
		return false
	}
	if i = spaceEnd(b, i); i >= len(b) {
		return false
	}
	switch c := b[i]; {
	case c == '"':
		if bm != nil {
			i, _ = stringEnd(b, bm, i)
		} else {
			i = s.wordsEnd(i)
		}
		if i < 0 {
			return false
		}
	case c == '{' || c == '[':
		if i = spaceEnd(b, i+1); i < len(b) && b[i] == c+2 { // '}' is '{'+2, ']' is '['+2
			i++
			break
		}
		open[n>>6] &^= 1 << (n & 63)
		if c == '[' {
			open[n>>6] |= 1 << (n & 63)
			n++
			goto value
		}
		n++
		goto key
	case c == 't' || c == 'n':
		// (Constant words: each compare is one load.)
		if !literalAt(b, i, "true") && !literalAt(b, i, "null") {
			return false
		}
		i += 4
	case c == 'f':
		if !literalAt(b, i, "false") {
			return false
		}
		i += 5
	case c == '-' || (c >= '0' && c <= '9'):
		s.i = i
		if _, ok := s.number(); !ok {
			return false
		}
		i = s.i
	default:
		return false
	}
	// After a value: the end, or a comma or the close of its container.
	for n > 0 {
		if i = spaceEnd(b, i); i >= len(b) {
			return false
		}
		array := open[(n-1)>>6]&(1<<((n-1)&63)) != 0
		if b[i] == ',' {
			i++
			if array {
				goto value
			}
			goto key
		}
		if array && b[i] != ']' || !array && b[i] != '}' {
			return false
		}
		i++
		n--
	}
	s.i = i
	return true
key:
	// An object's key and its colon; then its value. (The string's
	// lines are the value case's again: one path for both, through a
	// flag, cost top 4% of its instructions.)
	if i = spaceEnd(b, i); i >= len(b) || b[i] != '"' {
		return false
	}
	if bm != nil {
		i, _ = stringEnd(b, bm, i)
	} else {
		i = s.wordsEnd(i)
	}
	if i < 0 {
		return false
	}
	if i = spaceEnd(b, i); i >= len(b) || b[i] != ':' {
		return false
	}
	i++
	goto value
}

// number scans a JSON number and returns its bytes.
func (s *scanner) number() ([]byte, bool) {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	if c := s.peek(); c < '0' || c > '9' {
		return nil, false // "+1", ".5": not JSON numbers
	}
	digits := 0
	for s.i < len(s.b) {
		c := s.b[s.i]
		if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
			if c >= '0' && c <= '9' {
				digits++
			}
			s.i++
			continue
		}
		break
	}
	if digits == 0 {
		return nil, false
	}
	return s.b[start:s.i], true
}

// object calls field for each key of the object at s.i. field must consume
// the value (or return false to have it skipped).
func (s *scanner) object(depth int, field func(key []byte) (handled, ok bool)) bool {
	return s.objectIn(depth, nil, field)
}

// keyOrder is the keys an object usually has, in the order kube-apiserver
// writes them (its Go structs' field order): a key that is one of the next
// few expected is matched by a compare of its bytes with `"key":` instead
// of being scanned as a string and then compared.
type keyOrder []keyLit

type keyLit struct {
	lit   string // `"key":`
	head  uint64 // lit's first 8 bytes, little-endian (zero-padded)
	mask  uint64 // the bytes of head that lit has
	key   []byte
	short bool // lit is at most 8 bytes
}

func newKeyOrder(keys ...string) keyOrder {
	o := make(keyOrder, len(keys))
	for i, k := range keys {
		lit := `"` + k + `":`
		var b [8]byte
		n := copy(b[:], lit)
		o[i] = keyLit{lit: lit, head: binary.LittleEndian.Uint64(b[:]), mask: ^uint64(0) >> (64 - 8*n), key: []byte(k), short: len(lit) <= 8}
	}
	return o
}

// index is the position of key in the order, or -1.
func (o keyOrder) index(key []byte) int {
	for j := range o {
		if string(o[j].key) == string(key) {
			return j
		}
	}
	return -1
}

// match reports whether b[i:] starts with the literal.
func (l *keyLit) match(b []byte, i int) bool {
	if len(b)-i < len(l.lit) {
		return false
	}
	if len(b)-i >= 8 {
		if binary.LittleEndian.Uint64(b[i:])&l.mask != l.head {
			return false
		}
		if l.short {
			return true
		}
	}
	return string(b[i:i+len(l.lit)]) == l.lit
}

// lookahead is how many keys of an order are tried: the usual ones may be
// absent (impersonatedUser, the bodies), not many in a row.
const lookahead = 4

// objectIn is object with the keys' usual order (nil: none).
func (s *scanner) objectIn(depth int, order keyOrder, field func(key []byte) (handled, ok bool)) bool {
	if !s.expect('{') {
		return false
	}
	if s.expect('}') {
		return true
	}
	next := 0
	for {
		s.ws()
		var key []byte
		idx := -1
		for j := next; j < len(order) && j < next+lookahead; j++ {
			if order[j].match(s.b, s.i) {
				key, idx = order[j].key, j
				s.i += len(order[j].lit)
				next = j + 1
				break
			}
		}
		if key == nil {
			k, escaped, ok := s.rawString()
			if !ok {
				return false
			}
			if escaped {
				if k, ok = unescape(nil, k); !ok {
					return false
				}
			}
			if !s.expect(':') {
				return false
			}
			key, idx = k, order.index(k)
		}
		s.ws()
		s.keyIdx = idx
		handled, ok := field(key)
		if !ok {
			return false
		}
		if !handled && !s.skip(depth+1) {
			return false
		}
		if s.expect(',') {
			continue
		}
		return s.expect('}')
	}
}

// stringBytes scans a string value. A value of another type (null...) is
// not handled: the caller skips it, and the field reads "", as fastjson's
// GetStringBytes gives.
func (s *scanner) stringBytes() (v []byte, handled, ok bool) {
	if s.peek() != '"' {
		return nil, false, true
	}
	v, ok = s.str()
	return v, true, ok
}

// strValue scans a string value into dst, as stringBytes (one call less
// per string: the hot path of every field).
func (s *scanner) strValue(dst *string) (bool, bool) {
	if s.peek() != '"' {
		return false, true
	}
	v, escaped, ok := s.rawString()
	if ok && escaped {
		v, ok = s.unescaped(v)
	}
	if ok {
		*dst = StringView(v)
	}
	return true, ok
}

// timeValue scans a timestamp into dst: an RFC 3339 string (or one of the
// near forms parseTime accepts), or a number of seconds, milliseconds or
// microseconds since the epoch. A value that is neither is kept in bad
// (the first one) for the message that says why an event has no time.
func (s *scanner) timeValue(dst *timeT, bad *string) (bool, bool) {
	if c := s.peek(); c == '-' || (c >= '0' && c <= '9') {
		n, ok := s.number()
		if !ok {
			return true, false
		}
		if t, ok := epochTime(n); ok {
			*dst = t
		} else if *bad == "" {
			*bad = string(n)
		}
		return true, true
	}
	v, handled, ok := s.stringBytes()
	if handled && ok {
		*dst = s.tc.parse(v)
		if dst.IsZero() && len(v) > 0 && *bad == "" {
			*bad = strconv.Quote(string(v))
		}
	}
	return handled, ok
}

// epochTime reads a JSON number as a time since the Unix epoch, in
// seconds, milliseconds or microseconds by its magnitude (years 2001-2286).
func epochTime(n []byte) (time.Time, bool) {
	str := StringView(n)
	whole, frac, _ := strings.Cut(str, ".")
	i, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || i <= 0 || strings.ContainsAny(frac, "eE+-") {
		return time.Time{}, false
	}
	var nanos int64 // of the unit, from the fraction's digits
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		for k := len(frac); k < 9; k++ {
			f *= 10
		}
		nanos = f
	}
	var unit int64
	switch {
	case i >= 1e9 && i < 1e10:
		unit = 1e9
	case i >= 1e12 && i < 1e13:
		unit = 1e6
	case i >= 1e15 && i < 1e16:
		unit = 1e3
	default:
		return time.Time{}, false
	}
	return time.Unix(0, i*unit+nanos*unit/1e9).UTC(), true
}

// span scans any value and returns its raw bytes.
func (s *scanner) span(depth int) ([]byte, bool) {
	start := s.i
	if !s.skip(depth) {
		return nil, false
	}
	return s.b[start:s.i], true
}

// stringArray appends the strings of an array (non-strings give "").
func (s *scanner) stringArray(dst []string, depth int) ([]string, bool, bool) {
	if s.peek() != '[' {
		return dst, false, true
	}
	s.i++
	if s.expect(']') {
		return dst, true, true
	}
	for {
		s.ws()
		if s.peek() == '"' {
			v, ok := s.str()
			if !ok {
				return dst, true, false
			}
			dst = append(dst, StringView(v))
		} else {
			if !s.skip(depth + 1) {
				return dst, true, false
			}
			dst = append(dst, "")
		}
		if s.expect(',') {
			continue
		}
		return dst, true, s.expect(']')
	}
}

// scanResult tells what scanEvent found.
type scanResult int

const (
	scanMalformed scanResult = iota // not well-formed JSON (as far as scanned)
	scanOther                       // a JSON object, but not an audit event
	scanEvent                       // an audit event, filled in
	scanNoTime                      // an audit event without a usable time
)

// scan fills e from one JSON object holding an audit event.
// Scan fills e from one serialized audit event (a line the log backend
// wrote, or an event the reader held back) and reports whether b is one.
// The view points into b: it is valid as long as b is not modified.
func (e *Event) Scan(b []byte) bool { return e.scan(b, nil, nil, false) == scanEvent }

// Rescanner scans events held back as JSON (AppendJSON) as Decode scans
// lines, with a bitmap and a timestamp cache; for one goroutine.
type Rescanner struct {
	bm []uint64
	tc minuteCache
	// Eager is Decoder.Eager.
	Eager bool
}

// Scan is e.Scan(b).
func (r *Rescanner) Scan(e *Event, b []byte) bool {
	r.bm, _, _ = classify(b, r.bm)
	return e.scan(b, r.bm, &r.tc, r.Eager) == scanEvent
}

// scan is Scan with b's bitmap (classify) and a timestamp cache, each
// optional (nil).
func (e *Event) scan(b []byte, bm []uint64, tc *minuteCache, eager bool) scanResult {
	e.reset()
	s := scanner{b: b, arena: &e.arena, bm: bm, tc: tc, eager: eager}
	s.ws()
	if s.peek() != '{' {
		// Not an object: say whether it is valid JSON at all.
		if s.skip(0) {
			if s.ws(); s.i == len(s.b) {
				return scanOther
			}
		}
		return scanMalformed
	}
	var kind string
	ok := s.objectIn(0, eventOrder, func(key []byte) (bool, bool) {
		switch s.keyIdx {
		case evKind:
			return s.strValue(&kind)
		case evAPIVersion:
			return s.strValue(&e.APIVersion)
		case evAuditID:
			return s.strValue(&e.AuditID)
		case evStage:
			return s.strValue(&e.Stage)
		case evLevel:
			return s.strValue(&e.Level)
		case evVerb:
			return s.strValue(&e.Verb)
		case evRequestURI:
			return s.strValue(&e.RequestURI)
		case evUserAgent:
			return s.strValue(&e.UserAgent)
		case evUser:
			return s.user(&e.User)
		case evImpersonatedUser:
			if s.peek() != '{' {
				return false, true
			}
			e.hasImp = true
			return s.user(&e.ImpersonatedUser)
		case evSourceIPs:
			var handled, ok bool
			e.SourceIPs, handled, ok = s.stringArray(e.SourceIPs, 1)
			return handled, ok
		case evObjectRef:
			if s.peek() != '{' {
				return false, true
			}
			r := &e.ObjectRef
			return true, s.objectIn(1, objectRefOrder, func(k []byte) (bool, bool) {
				switch string(k) {
				case "resource":
					return s.strValue(&r.Resource)
				case "namespace":
					return s.strValue(&r.Namespace)
				case "name":
					return s.strValue(&r.Name)
				case "uid":
					return s.strValue(&r.UID)
				case "apiGroup":
					return s.strValue(&r.APIGroup)
				case "apiVersion":
					return s.strValue(&r.APIVersion)
				case "resourceVersion":
					return s.strValue(&r.ResourceVersion)
				case "subresource":
					return s.strValue(&r.Subresource)
				}
				return false, true
			})
		case evResponseStatus:
			if s.peek() != '{' {
				return false, true
			}
			return true, s.objectIn(1, statusOrder, func(k []byte) (bool, bool) {
				switch string(k) {
				case "code":
					if n, ok := s.number(); ok {
						e.Code = atoi(n)
						return true, true
					}
					return false, true
				case "status":
					return s.strValue(&e.Status)
				case "reason":
					return s.strValue(&e.Reason)
				case "message":
					return s.strValue(&e.Message)
				}
				return false, true
			})
		case evRequestReceivedTimestamp:
			return s.timeValue(&e.Received, &e.badTime)
		case evStageTimestamp:
			return s.timeValue(&e.StageTime, &e.badTime)
		case -1:
			switch string(key) {
			case "timestamp":
				// audit.k8s.io/v1alpha1 and v1beta1 events have only
				// this.
				return s.timeValue(&e.legacyTime, &e.badTime)
			case "metadata":
				if s.peek() != '{' {
					return false, true
				}
				return true, s.object(1, func(k []byte) (bool, bool) {
					if string(k) == "creationTimestamp" {
						return s.timeValue(&e.metaTime, &e.badTime)
					}
					return false, true
				})
			}
		case evAnnotations:
			if s.peek() != '{' {
				return false, true
			}
			if !s.eager {
				sp, ok := s.span(1)
				e.annotations = sp
				return true, ok
			}
			// Read as it is checked (Decoder.Eager): a list of a
			// few views answers each Annotation by a compare of lengths.
			start := s.i
			var ok bool
			e.annKV, ok = s.annotations(e.annKV[:0])
			e.annotations, e.annRead = s.b[start:s.i], true
			return true, ok
		case evRequestObject, evResponseObject:
			k := 0
			if s.keyIdx == evResponseObject {
				k = 1
			}
			if e.bodies[k] != nil {
				return false, true // a repeated key: the first one counts
			}
			sp, ok := s.span(1)
			e.bodies[k] = sp
			return true, ok
		}
		return false, true
	})
	e.hasBodies = true
	if !ok {
		return scanMalformed
	}
	s.ws()
	if s.i != len(s.b) {
		return scanMalformed // trailing data after the object
	}
	e.raw = b
	if e.AuditID == "" || e.Stage == "" || (kind != "" && kind != "Event") ||
		(e.APIVersion != "" && !hasPrefix(e.APIVersion, "audit.k8s.io/")) {
		return scanOther
	}
	if !e.resolveTime() {
		return scanNoTime
	}
	return scanEvent
}

// TimeFields are the timestamps an event's time is taken from, in order:
// the first one set (and parseable) is its time (Event.Received).
var TimeFields = []string{"requestReceivedTimestamp", "stageTimestamp", "timestamp", "metadata.creationTimestamp"}

// resolveTime sets Received from the first of TimeFields that the event
// has, and reports whether it has any.
func (e *Event) resolveTime() bool {
	switch {
	case !e.Received.IsZero():
		e.timeFrom = 0
	case !e.StageTime.IsZero():
		e.Received, e.timeFrom = e.StageTime, 1
	case !e.legacyTime.IsZero():
		e.Received, e.timeFrom = e.legacyTime, 2
	case !e.metaTime.IsZero():
		e.Received, e.timeFrom = e.metaTime, 3
	default:
		return false
	}
	return true
}

// TimeFrom names the field the event's time (Received) was taken from:
// one of TimeFields.
func (e *Event) TimeFrom() string { return TimeFields[e.timeFrom] }

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func (s *scanner) user(u *UserInfo) (bool, bool) {
	if s.peek() != '{' {
		return false, true
	}
	return true, s.objectIn(1, userOrder, func(k []byte) (bool, bool) {
		switch string(k) {
		case "username":
			return s.strValue(&u.Username)
		case "uid":
			return s.strValue(&u.UID)
		case "groups":
			var handled, ok bool
			u.Groups, handled, ok = s.stringArray(u.Groups, 2)
			return handled, ok
		case "extra":
			if s.peek() != '{' {
				return false, true
			}
			if !s.eager {
				sp, ok := s.span(2)
				u.extra = sp
				u.arena = s.arena
				return true, ok
			}
			// Scanned (not skipped) for the node name on the way
			// (Decoder.Eager): most events of a large cluster's log are
			// of service accounts with bound tokens, and detect's
			// prefilter asks each for its node.
			u.nodeRead = true
			start := s.i
			found := false
			ok := s.objectIn(2, nil, func(k []byte) (bool, bool) {
				if found || string(k) != ExtraNodeName {
					return false, true
				}
				found = true
				return s.firstString(&u.nodeName)
			})
			u.extra = s.b[start:s.i]
			u.arena = s.arena
			return true, ok
		}
		return false, true
	})
}

// The positions of eventOrder's keys, for the event's field callback.
const (
	evKind = iota
	evAPIVersion
	evLevel
	evAuditID
	evStage
	evRequestURI
	evVerb
	evUser
	evImpersonatedUser
	evSourceIPs
	evUserAgent
	evObjectRef
	evResponseStatus
	evRequestObject
	evResponseObject
	evRequestReceivedTimestamp
	evStageTimestamp
	evAnnotations
)

// The key orders of audit.k8s.io/v1 objects as kube-apiserver writes them.
var (
	eventOrder = newKeyOrder("kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb",
		"user", "impersonatedUser", "sourceIPs", "userAgent", "objectRef", "responseStatus",
		"requestObject", "responseObject", "requestReceivedTimestamp", "stageTimestamp", "annotations")
	userOrder      = newKeyOrder("username", "uid", "groups", "extra")
	objectRefOrder = newKeyOrder("resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource")
	statusOrder    = newKeyOrder("metadata", "status", "message", "reason", "details", "code")
)

func atoi(b []byte) int {
	// Response codes are integers; like fastjson's GetInt, anything else
	// reads as 0.
	n, err := strconv.Atoi(StringView(b))
	if err != nil {
		return 0
	}
	return n
}

// lookupString finds key in a JSON object's bytes and returns its string
// value (first element if the value is an array of strings).
func lookupString(obj []byte, key string, arena *[]byte) string {
	if len(obj) == 0 {
		return ""
	}
	if v, ok := lookupCompact(obj, key, arena); ok {
		return v
	}
	return lookupScan(obj, key, arena)
}

// lookupScan is lookupString by a scan of the object.
func lookupScan(obj []byte, key string, arena *[]byte) string {
	s := scanner{b: obj, arena: arena}
	var out string
	found := false
	s.object(1, func(k []byte) (bool, bool) {
		if found || string(k) != key {
			return false, true
		}
		found = true
		return s.firstString(&out)
	})
	return out
}

// firstString reads a string, or the first string of a list of them, at
// s.i into out: a user.extra value (a list, nearly always of one string;
// a buffer on the stack keeps the lookup allocation-free) or an
// annotation.
func (s *scanner) firstString(out *string) (handled, ok bool) {
	switch s.peek() {
	case '"':
		return s.strValue(out)
	case '[':
		var buf [4]string
		vals, h, ok := s.stringArray(buf[:0], 2)
		if len(vals) > 0 {
			*out = vals[0]
		}
		return h, ok
	}
	return false, true
}

// lookupCompact is lookupString for an object (already validated by the
// scan) with no backslash and no object inside it, user.extra's shape:
// there every quote begins or ends a string, and `"key"` preceded by '{'
// or ',' and followed by ':' (white space allowed) is one of its keys
// (inside an array a string is never followed by ':'). It reports false
// when the object has another shape, which is then scanned.
func lookupCompact(obj []byte, key string, arena *[]byte) (string, bool) {
	if len(key)+2 > len(obj) {
		return "", true // not even the key's bytes
	}
	if obj[0] != '{' || bytes.IndexByte(obj[1:], '{') >= 0 ||
		bytes.IndexByte(obj, '\\') >= 0 || !plainKey(key) {
		// (A key of JSON's own characters could match across strings.)
		return "", false
	}
	var lit [64]byte
	if len(key)+2 > len(lit) {
		return "", false
	}
	n := copy(lit[1:], key) + 2
	lit[0], lit[n-1] = '"', '"'
	from := 0
	for {
		i := bytes.Index(obj[from:], lit[:n])
		if i < 0 {
			return "", true
		}
		i += from
		from = i + 1
		j := i - 1
		for j >= 0 && isSpace(obj[j]) {
			j--
		}
		if j < 0 || obj[j] != '{' && obj[j] != ',' {
			continue
		}
		k := i + n
		for k < len(obj) && isSpace(obj[k]) {
			k++
		}
		if k == len(obj) || obj[k] != ':' {
			continue
		}
		s := scanner{b: obj, i: k + 1, arena: arena}
		s.ws()
		var out string
		s.firstString(&out)
		return out, true
	}
}

// jsonPunct marks JSON's own characters: a key holding one could match
// across strings.
var jsonPunct = [256]bool{'"': true, '\\': true, '{': true, '}': true, '[': true, ']': true, ':': true, ',': true, ' ': true, '\t': true, '\r': true, '\n': true}

// plainKey reports whether key is non-empty and free of jsonPunct.
func plainKey(key string) bool { return keyFree(key, &jsonPunct) }

// keyFree reports whether key is non-empty and holds no byte bad marks (a
// table, not strings.ContainsAny: this runs for most events).
func keyFree(key string, bad *[256]bool) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if bad[key[i]] {
			return false
		}
	}
	return true
}

// Event.Annotation's and Event.keysAbsent's search: detect asks every
// event for a few annotations most events lack (a legacy token's), and
// reading the object costs more than looking for the key's bytes. Their
// absence proves the key's when each of its characters can only be
// written as itself: a key of printable ASCII other than JSON's characters
// (searchableKey), in an object without \/ and \u escapes (plainEscapes),
// the only others that write such characters.

// keyUnsafe marks the bytes a searchable key may not hold.
var keyUnsafe = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c >= 0x80 || jsonPunct[c]
	}
	return t
}()

func searchableKey(key string) bool { return keyFree(key, &keyUnsafe) }

// byteRank orders bytes by how common they are in audit events, rarest
// first: keyIn looks for a key's rarest byte.
var byteRank = func() (r [256]uint8) {
	for c := range r {
		r[c] = 5
	}
	for _, c := range []byte("etaoinsr\":,.{}") {
		r[c] = 9
	}
	for _, c := range []byte("hldcumpfk/-_") {
		r[c] = 7
	}
	for c := '0'; c <= '9'; c++ {
		r[c] = 6
	}
	for _, c := range []byte("gwybv") {
		r[c] = 4
	}
	for c := 'A'; c <= 'Z'; c++ {
		r[c] = 2
	}
	for _, c := range []byte("qxjz") {
		r[c] = 1
	}
	return r
}()

// keyIn reports whether key's bytes are somewhere in s. It looks for the
// key's rarest byte (one vectorized search, few false hits) rather than
// its first, which in JSON is usually a lower-case letter found every few
// bytes: this is the whole cost of proving a key absent.
func keyIn(s, key string) bool {
	// Keys share prefixes (authentication.k8s.io/...): the rarest byte is
	// looked for after the last slash, where they differ.
	from := strings.LastIndexByte(key, '/') + 1
	if from == len(key) {
		from = 0
	}
	p := from
	for i := from + 1; i < len(key); i++ {
		if byteRank[key[i]] <= byteRank[key[p]] {
			p = i
		}
	}
	c := key[p]
	for i := p; i < len(s); {
		j := strings.IndexByte(s[i:], c)
		if j < 0 {
			return false
		}
		j += i
		if start := j - p; start+len(key) <= len(s) && s[start:start+len(key)] == key {
			return true
		}
		i = j + 1
	}
	return false
}

// plainEscapes reports whether obj has no \/ and no \u escape.
func plainEscapes(obj []byte) bool {
	for i := 0; i < len(obj); {
		j := bytes.IndexByte(obj[i:], '\\')
		if j < 0 || i+j+1 >= len(obj) {
			return true
		}
		i += j + 1
		if c := obj[i]; c == '/' || c == 'u' {
			return false
		}
		i++ // the escaped character, a backslash included
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// annKV is one annotation as lookupString reads it. A value with escapes
// is kept raw until asked for (raw set): most are never read.
type annKV struct {
	k, v string
	raw  bool
}

// appendAnnotations appends every key of obj with its value as
// lookupString gives it (a string, the first string of a list, else ""),
// in order, repeated keys included: the first one is found first.
func appendAnnotations(dst []annKV, obj []byte, arena *[]byte) []annKV {
	if len(obj) == 0 {
		return dst
	}
	s := scanner{b: obj, arena: arena}
	dst, _ = s.annotations(dst)
	return dst
}

// annotations scans the object at s.i into dst (see appendAnnotations).
func (s *scanner) annotations(dst []annKV) ([]annKV, bool) {
	ok := s.object(1, func(k []byte) (bool, bool) {
		kv := annKV{k: StringView(k)}
		var handled, ok = false, true
		switch s.peek() {
		case '"':
			var raw []byte
			var escaped bool
			raw, escaped, ok = s.rawString()
			handled = true
			kv.v, kv.raw = StringView(raw), escaped
		case '[':
			var buf [4]string
			var vals []string
			vals, handled, ok = s.stringArray(buf[:0], 2)
			if len(vals) > 0 {
				kv.v = vals[0]
			}
		}
		dst = append(dst, kv)
		return handled, ok
	})
	return dst, ok
}

// visitStrings calls fn for each key of a JSON object's bytes with its
// string value (array values joined by ",").
func visitStrings(obj []byte, arena *[]byte, fn func(key, value string)) {
	if len(obj) == 0 {
		return
	}
	s := scanner{b: obj, arena: arena}
	s.object(1, func(k []byte) (bool, bool) {
		key := StringView(k)
		switch s.peek() {
		case '"':
			var v string
			h, ok := s.strValue(&v)
			fn(key, v)
			return h, ok
		case '[':
			vals, h, ok := s.stringArray(nil, 2)
			joined := ""
			for i, v := range vals {
				if i > 0 {
					joined += ","
				}
				joined += v
			}
			fn(key, joined)
			return h, ok
		}
		fn(key, "")
		return false, true
	})
}
