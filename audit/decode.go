package audit

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Reasons a line or input is skipped. They are stable: they appear in the
// summary and in JSON output.
const (
	SkipMalformed   = "malformed JSON"
	SkipNotAudit    = "not an audit event"
	SkipInvalidUTF8 = "invalid UTF-8"
	SkipTooLong     = "line too long"
	SkipGKE         = "unusable GKE Cloud Audit LogEntry"
	SkipDamaged     = "damaged stream"
	SkipIncomplete  = "incomplete audit event"
	SkipNoTime      = "no usable timestamp"
	SkipUnreadable  = "unreadable input"
)

// Decoder turns one line (or one whole JSON document) into audit events.
// It understands plain events, EventList batches (webhook backend), JSON
// arrays of events, EKS CloudWatch exports (message holds the event, also in
// logEvents[] and events[] batches) and AKS diagnostic records
// (properties.log holds the event as a string, also in records[]), and
// kube-apiserver's legacy text format (legacy.go).
// One decoder per worker: its parsers own the memory events point into.
type Decoder struct {
	outer fastjson.Parser
	inner fastjson.Parser
	ev    Event
	// Emit receives each event; the view is valid only during the call.
	Emit func(e *Event)
	// Eager has the scan read, as it checks them, what a reader that
	// asks every event for it (detect's prefilter) would otherwise search
	// for: the annotations (then each Annotation is a compare of a few
	// lengths) and user.extra's node name (NodeName). Otherwise the
	// first Annotation or NodeName reads them.
	Eager bool
	// inInner stops envelopes nested inside envelopes from recursing.
	inInner bool
	// item holds a batch element re-serialized for the scanner.
	item []byte
	// bm is the current line's bitmap (classify).
	bm []uint64
	// tc caches the minute of the timestamps last read.
	tc minuteCache
}

// DecodeError says why a line was skipped.
type DecodeError struct {
	// Reason is one of the Skip* constants.
	Reason string
	// Detail says where or what, for the user.
	Detail string
}

func (d *DecodeError) Error() string {
	if d.Detail == "" {
		return d.Reason
	}
	return d.Reason + ": " + d.Detail
}

// Decode parses line and emits the audit events it holds. It returns the
// number of events emitted, or an error saying why nothing usable was found.
// A plain event (the log backend's lines) goes through the scanner alone;
// everything else (batches, envelopes, damage) through fastjson.
// Decode may read, never write, up to 63 bytes of line's capacity past its
// length (the rest of its chunk): they must not change meanwhile.
func (d *Decoder) Decode(line []byte, pos Position) (int, *DecodeError) {
	bm, hb, high := classify(line, d.bm)
	d.bm = bm
	if high && !validUTF8(line, hb) {
		i := firstInvalidUTF8(line)
		return 0, &DecodeError{SkipInvalidUTF8, fmt.Sprintf("at byte %d of the line", i)}
	}
	d.ev.Source = pos
	res := d.ev.scan(line, d.bm, &d.tc, d.Eager)
	switch res {
	case scanEvent:
		d.Emit(&d.ev)
		return 1, nil
	case scanNoTime:
		return 0, d.noTime()
	}
	v, err := d.outer.ParseBytes(line)
	if err != nil {
		if b, ok := legacyJSON(line); ok {
			// --audit-log-format=legacy: the same event, read as JSON.
			d.item = append(d.item[:0], b...)
			if n, derr, ok := d.emitItem(pos); ok {
				return n, derr
			}
			return 0, &DecodeError{SkipIncomplete, "a legacy-format audit line without what an event needs"}
		}
		return 0, &DecodeError{SkipMalformed, shortErr(err)}
	}
	if res == scanMalformed {
		// fastjson accepted what the scanner did not: cannot happen for
		// valid JSON, and the fuzz test checks they agree.
		return 0, &DecodeError{SkipMalformed, "not well-formed JSON"}
	}
	d.inInner = false
	return d.value(v, pos)
}

func (d *Decoder) value(v *fastjson.Value, pos Position) (int, *DecodeError) {
	switch v.Type() {
	case fastjson.TypeArray:
		a, _ := v.Array()
		return d.items(a, pos)
	case fastjson.TypeObject:
	default:
		return 0, &DecodeError{SkipNotAudit, "a JSON " + v.Type().String() + ", not an object"}
	}
	if v.Exists("auditID") || isAuditKind(v) {
		d.item = v.MarshalTo(d.item[:0])
		if n, derr, ok := d.emitItem(pos); ok {
			return n, derr
		}
		return 0, notAudit(v)
	}
	if items := v.Get("items"); items != nil && items.Type() == fastjson.TypeArray {
		a, _ := items.Array()
		return d.items(a, pos)
	}
	// EKS: CloudWatch Logs export; the event is a string in "message".
	if msg := v.Get("message"); msg != nil && msg.Type() == fastjson.TypeString {
		return d.embedded(msg.GetStringBytes(), pos, "message")
	}
	for _, key := range []string{"logEvents", "events", "records"} {
		if batch := v.Get(key); batch != nil && batch.Type() == fastjson.TypeArray {
			a, _ := batch.Array()
			return d.items(a, pos)
		}
	}
	// Docker's json-file container log: {"log":"<line>\n","stream":...}.
	if log := v.Get("log"); log != nil && log.Type() == fastjson.TypeString && v.Exists("stream") {
		return d.embedded(bytes.TrimRight(log.GetStringBytes(), "\r\n"), pos, "log")
	}
	// AKS: diagnostic setting record; the event is in properties.log, as a
	// string holding JSON or (some exporters) as the object itself.
	if log := v.Get("properties", "log"); log != nil {
		switch log.Type() {
		case fastjson.TypeString:
			return d.embedded(log.GetStringBytes(), pos, "properties.log")
		case fastjson.TypeObject:
			if d.inInner {
				return 0, &DecodeError{SkipNotAudit, "envelope nested in properties.log"}
			}
			d.inInner = true
			defer func() { d.inInner = false }()
			return d.value(log, pos)
		}
	}
	if v.Exists("protoPayload") {
		var ok bool
		if d.item, ok = gkeEvent(v, d.item[:0]); !ok {
			return 0, &DecodeError{SkipGKE, "a Cloud Audit Logs entry, but not of Kubernetes (producer k8s.io)"}
		}
		d.ev.Source = pos
		if d.ev.scan(d.item, nil, &d.tc, d.Eager) != scanEvent {
			return 0, &DecodeError{SkipGKE, "a Kubernetes Cloud Audit Logs entry without an operation id"}
		}
		d.Emit(&d.ev)
		return 1, nil
	}
	return 0, notAudit(v)
}

// items decodes each element of a batch; the batch counts as skipped only
// when none of its elements is an audit event.
func (d *Decoder) items(a []*fastjson.Value, pos Position) (int, *DecodeError) {
	n := 0
	var first *DecodeError
	for _, it := range a {
		k, err := d.value(it, pos)
		n += k
		if err != nil && first == nil {
			first = err
		}
	}
	if n == 0 {
		if first == nil {
			first = &DecodeError{SkipNotAudit, "an empty batch"}
		}
		return 0, first
	}
	return n, nil
}

// embedded decodes an event serialized as a JSON string inside an envelope.
// Envelope batches are decoded one element at a time, so reusing the inner
// parser is safe: the previous element's event has been emitted already.
func (d *Decoder) embedded(s []byte, pos Position, field string) (int, *DecodeError) {
	if d.inInner {
		return 0, &DecodeError{SkipNotAudit, "envelope nested in " + field}
	}
	d.ev.Source = pos
	switch d.ev.scan(s, nil, &d.tc, d.Eager) {
	case scanEvent:
		d.Emit(&d.ev)
		return 1, nil
	case scanNoTime:
		return 0, d.noTime()
	}
	v, err := d.inner.ParseBytes(s)
	if err != nil {
		return 0, &DecodeError{SkipNotAudit, field + " is not JSON: " + shortErr(err)}
	}
	d.inInner = true
	defer func() { d.inInner = false }()
	return d.value(v, pos)
}

// emitItem scans d.item as an event and emits it; ok is false when it
// is neither an event nor one without a usable time.
func (d *Decoder) emitItem(pos Position) (n int, derr *DecodeError, ok bool) {
	d.ev.Source = pos
	switch d.ev.scan(d.item, nil, &d.tc, d.Eager) {
	case scanEvent:
		d.Emit(&d.ev)
		return 1, nil, true
	case scanNoTime:
		return 0, d.noTime(), true
	}
	return 0, nil, false
}

// noTime says why the event just scanned has no usable time.
func (d *Decoder) noTime() *DecodeError {
	detail := "none of " + strings.Join(TimeFields, ", ") + " is set"
	if bad := d.ev.badTime; bad != "" {
		detail = "none of " + strings.Join(TimeFields, ", ") + " is an RFC 3339 time (got " + bad + ")"
	}
	return &DecodeError{SkipNoTime, detail}
}

// isAuditKind reports whether v says it is an audit event (kind Event of
// audit.k8s.io), whatever it lacks.
func isAuditKind(v *fastjson.Value) bool {
	av := string(v.GetStringBytes("apiVersion"))
	kind := string(v.GetStringBytes("kind"))
	return strings.HasPrefix(av, "audit.k8s.io/") && (kind == "" || kind == "Event")
}

// notAudit says why an object is not an audit event: not one at all, or
// one that lacks a field every event has (then it names the field).
func notAudit(v *fastjson.Value) *DecodeError {
	o, err := v.Object()
	if err != nil {
		return &DecodeError{SkipNotAudit, "not an object"}
	}
	kind, av := string(v.GetStringBytes("kind")), string(v.GetStringBytes("apiVersion"))
	if isAuditKind(v) || (av == "" && (kind == "" || kind == "Event") && v.Exists("auditID")) {
		var missing []string
		for _, f := range []string{"auditID", "stage"} {
			if x := v.Get(f); x == nil {
				missing = append(missing, "no "+f)
			} else if x.Type() != fastjson.TypeString || len(x.GetStringBytes()) == 0 {
				missing = append(missing, f+" is not a non-empty string")
			}
		}
		if len(missing) > 0 {
			return &DecodeError{SkipIncomplete, strings.Join(missing, ", ")}
		}
	}
	var keys []string
	o.Visit(func(k []byte, _ *fastjson.Value) {
		if len(keys) < 4 {
			keys = append(keys, string(k))
		}
	})
	if kind := v.GetStringBytes("kind"); len(kind) > 0 && string(kind) != "Event" {
		return &DecodeError{SkipNotAudit, fmt.Sprintf("kind %q", kind)}
	}
	if av := v.GetStringBytes("apiVersion"); len(av) > 0 {
		return &DecodeError{SkipNotAudit, fmt.Sprintf("apiVersion %q", av)}
	}
	return &DecodeError{SkipNotAudit, fmt.Sprintf("no auditID (keys %q...)", keys)}
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}
