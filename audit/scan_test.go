package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"
)

// describe renders every field the scanner extracts.
func describe(e *Event) string {
	var extra, ann []string
	visitStrings(e.User.extra, e.User.arena, func(k, v string) { extra = append(extra, k+"="+v) })
	e.VisitAnnotations(func(k, v string) { ann = append(ann, k+"="+v) })
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|u=%s/%s/%q/%q|imp=%v:%s/%s/%q|ips=%q|ref=%+v|code=%d/%s/%s/%s|t=%s/%s|ann=%q",
		e.APIVersion, e.AuditID, e.Stage, e.Level, e.Verb, e.RequestURI, e.UserAgent,
		e.User.Username, e.User.UID, e.User.Groups, extra,
		e.hasImp, e.ImpersonatedUser.Username, e.ImpersonatedUser.UID, e.ImpersonatedUser.Groups,
		e.SourceIPs, e.ObjectRef, e.Code, e.Status, e.Reason, e.Message,
		e.Received.Format("2006-01-02T15:04:05.999999999Z07:00"), e.StageTime.Format("2006-01-02T15:04:05.999999999Z07:00"), ann)
}

// reference extracts the same fields with fastjson, the way a reader of the
// JSON would, to check the scanner against.
func reference(v *fastjson.Value) string {
	str := func(v *fastjson.Value, keys ...string) string { return string(v.GetStringBytes(keys...)) }
	strs := func(v *fastjson.Value, keys ...string) []string {
		var out []string
		for _, x := range v.GetArray(keys...) {
			out = append(out, string(x.GetStringBytes()))
		}
		return out
	}
	visit := func(o *fastjson.Object) []string {
		var out []string
		if o == nil {
			return nil
		}
		o.Visit(func(k []byte, x *fastjson.Value) {
			val := string(x.GetStringBytes())
			if a, err := x.Array(); err == nil {
				var vals []string
				for _, y := range a {
					vals = append(vals, string(y.GetStringBytes()))
				}
				val = strings.Join(vals, ",")
			}
			out = append(out, string(k)+"="+val)
		})
		return out
	}
	obj := func(keys ...string) *fastjson.Object {
		x := v.Get(keys...)
		if x == nil {
			return nil
		}
		o, err := x.Object()
		if err != nil {
			return nil
		}
		return o
	}
	e := Event{}
	tm := func(keys ...string) time.Time {
		x := v.Get(keys...)
		if x == nil {
			return time.Time{}
		}
		if x.Type() == fastjson.TypeNumber {
			t, _ := epochTime(x.MarshalTo(nil))
			return t
		}
		return parseTime(x.GetStringBytes())
	}
	e.StageTime = tm("stageTimestamp")
	// The event's time is the first of TimeFields it has.
	for _, t := range []time.Time{tm("requestReceivedTimestamp"), e.StageTime, tm("timestamp"), tm("metadata", "creationTimestamp")} {
		if !t.IsZero() {
			e.Received = t
			break
		}
	}
	ref := ObjectRef{Resource: str(v, "objectRef", "resource"), Namespace: str(v, "objectRef", "namespace"), Name: str(v, "objectRef", "name"),
		UID: str(v, "objectRef", "uid"), APIGroup: str(v, "objectRef", "apiGroup"), APIVersion: str(v, "objectRef", "apiVersion"),
		ResourceVersion: str(v, "objectRef", "resourceVersion"), Subresource: str(v, "objectRef", "subresource")}
	imp := v.Get("impersonatedUser") != nil && v.Get("impersonatedUser").Type() == fastjson.TypeObject
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|u=%s/%s/%q/%q|imp=%v:%s/%s/%q|ips=%q|ref=%+v|code=%d/%s/%s/%s|t=%s/%s|ann=%q",
		str(v, "apiVersion"), str(v, "auditID"), str(v, "stage"), str(v, "level"), str(v, "verb"), str(v, "requestURI"), str(v, "userAgent"),
		str(v, "user", "username"), str(v, "user", "uid"), strs(v, "user", "groups"), visit(obj("user", "extra")),
		imp, str(v, "impersonatedUser", "username"), str(v, "impersonatedUser", "uid"), strs(v, "impersonatedUser", "groups"),
		strs(v, "sourceIPs"), ref, v.GetInt("responseStatus", "code"), str(v, "responseStatus", "status"), str(v, "responseStatus", "reason"), str(v, "responseStatus", "message"),
		e.Received.Format("2006-01-02T15:04:05.999999999Z07:00"), e.StageTime.Format("2006-01-02T15:04:05.999999999Z07:00"), visit(obj("annotations")))
}

// FuzzScanMatchesFastjson is a differential test: for any input fastjson
// accepts as an audit event, the scanner must accept it and read the same
// fields; for input fastjson rejects, the scanner must not claim an event.
//
//	go test ./audit -run XXX -fuzz FuzzScanMatchesFastjson -fuzztime 5m
func FuzzScanMatchesFastjson(f *testing.F) {
	b, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`{"auditID":"a","stage":"x","timestamp":"2026-11-24T10:00:00+01:00","metadata":{"creationTimestamp":1764000000.5}}`))
	f.Add([]byte(`{"auditID":"a","stage":"x","stageTimestamp":1764000000123,"requestReceivedTimestamp":"11/24/2026"}`))
	f.Add([]byte(`{"auditID":"a\u00e9\ud83d\ude00","stage":"x","user":{"extra":{"k\"q":["v\n1","v2"]}},"annotations":{"a":"\"b\""}}`))
	f.Add([]byte(`{"auditID":"a","stage":"x","responseStatus":{"code":4.03e2},"sourceIPs":[1,"x",null]}`))
	f.Add([]byte(` {"auditID" : "a" , "stage":"s", "x":[{"y":[true,false,null,-1.5e-3]}]} `))
	f.Add([]byte(`{"auditID":"a","stage":"s","user":{"username":"u","extra":{"a":[":",","],"node":["n1"],"k":"v","o":{"node":["x"]}}}}`))
	f.Add([]byte(`{"auditID":"a","stage":"s","user":{"username":"u","extra":{"a":["b"],"authentication.kubernetes.io/node-name":["node-1"]}}}`))
	f.Add([]byte(`{"auditID":"a","stage":"s","user":{"username":"u","extra":{"authentication.kubernetes.io\/node-name":["n\u0031"],"authentication.kubernetes.io/node-name":"n2"}}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		checkSkip(t, line, 0, 0, len(line)/3)
		var p fastjson.Parser
		v, perr := p.ParseBytes(line)
		var e Event
		res := scanBoth(t, &e, line)
		if perr != nil {
			if res != scanMalformed && !json.Valid(line) {
				t.Fatalf("fastjson rejects (%v) but the scanner says %v", perr, res)
			}
			return
		}
		if res == scanMalformed {
			// fastjson is lenient with some invalid numbers ("+", "1.e");
			// the scanner may be stricter, never looser than the standard.
			if json.Valid(line) {
				t.Fatalf("valid JSON %q but the scanner says malformed", line)
			}
			return
		}
		if res == scanEvent {
			// The node name the scan reads on its way through user.extra
			// is the one Extra finds, duplicate keys included.
			if got, want := e.NodeName(), nodeNameRef(&e); got != want {
				t.Fatalf("NodeName() = %q, Extra gives %q", got, want)
			}
		}
		if v.Type() == fastjson.TypeObject && res == scanEvent {
			// A body is read from its own span: the same value as from
			// the whole event, duplicate keys included (the first).
			for _, k := range bodyKeys {
				if got, want := marshalOrNil(e.Get(k)), marshalOrNil(v.Get(k)); got != want {
					t.Fatalf("Get(%q) = %s, the whole event's parse gives %s", k, got, want)
				}
			}
		}
		if v.Type() != fastjson.TypeObject || res != scanEvent || hasDuplicateKeys(v) || surrogate.Match(line) {
			// Surrogate escapes: fastjson keeps a lone one as written, the
			// scanner makes it U+FFFD as encoding/json does.
			// Duplicate keys: fastjson keeps the first, the scanner the
			// last (as encoding/json does); both are allowed by RFC 8259.
			return
		}
		if got, want := describe(&e), reference(v); got != want {
			t.Fatalf("scanner and fastjson differ\n got %s\nwant %s", got, want)
		}
		// A user.extra key's value, as Extra finds it (by its bytes when
		// it can, else by a scan), is fastjson's.
		if extra := v.GetObject("user", "extra"); extra != nil {
			extra.Visit(func(k []byte, x *fastjson.Value) {
				want := ""
				switch x.Type() {
				case fastjson.TypeString:
					want = string(x.GetStringBytes())
				case fastjson.TypeArray:
					if a := x.GetArray(); len(a) > 0 && a[0].Type() == fastjson.TypeString {
						want = string(a[0].GetStringBytes())
					}
				}
				if got := e.User.Extra(string(k)); got != want {
					t.Fatalf("Extra(%q) = %q, fastjson has %q", k, got, want)
				}
			})
		}
	})
}

func TestScanEvents(t *testing.T) {
	b, err := os.ReadFile("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var p fastjson.Parser
		v, err := p.ParseBytes(l)
		if err != nil {
			t.Fatal(err)
		}
		var e Event
		if res := scanBoth(t, &e, l); res != scanEvent {
			t.Fatalf("line %d: scan = %v", i+1, res)
		}
		if got, want := describe(&e), reference(v); got != want {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, got, want)
		}
	}
}

func marshalOrNil(v *fastjson.Value) string {
	if v == nil {
		return "<nil>"
	}
	return string(v.MarshalTo(nil))
}

// TestBodyPaths: paths into requestObject and responseObject read the
// body's own span; the answers are those of the whole event's parse.
func TestBodyPaths(t *testing.T) {
	const head = `{"auditID":"a","stage":"ResponseComplete","requestReceivedTimestamp":"2026-11-24T10:00:00Z",`
	tests := []struct {
		name string
		line string
		path []string
	}{
		{"nested", head + `"requestObject":{"spec":{"hostNetwork":true}}}`, []string{"requestObject", "spec", "hostNetwork"}},
		{"the body itself", head + `"responseObject":{"kind":"Pod"}}`, []string{"responseObject"}},
		{"absent", head + `"verb":"get"}`, []string{"requestObject", "spec"}},
		{"null", head + `"requestObject":null}`, []string{"requestObject"}},
		{"a list", head + `"requestObject":[1,{"a":2}]}`, []string{"requestObject", "1", "a"}},
		{"repeated: the first", head + `"requestObject":{"a":1},"requestObject":{"a":2}}`, []string{"requestObject", "a"}},
		{"not a body", head + `"responseStatus":{"code":200}}`, []string{"responseStatus", "code"}},
		{"escaped key", head + `"requestObject":{"a\"b":"x"}}`, []string{"requestObject", "a\"b"}},
		// keysAbsent's search: a key written with escapes is still found.
		{"key in \\u escapes", head + `"requestObject":{"spec":{"\u0068ostNetwork":true}}}`, []string{"requestObject", "spec", "hostNetwork"}},
		{"key with an escaped slash", head + `"requestObject":{"a\/b":1}}`, []string{"requestObject", "a/b"}},
		{"key nowhere", head + `"requestObject":{"spec":{"containers":[]}}}`, []string{"requestObject", "spec", "hostPID"}},
		{"key only in a value", head + `"requestObject":{"spec":"hostPID"}}`, []string{"requestObject", "spec", "hostPID"}},
		{"an index, its key nowhere", head + `"requestObject":{"a":[{"b":1}]}}`, []string{"requestObject", "a", "0", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			if res := scanBoth(t, &e, []byte(tt.line)); res != scanEvent {
				t.Fatalf("scan = %v", res)
			}
			v := fastjson.MustParse(tt.line)
			if got, want := marshalOrNil(e.Get(tt.path...)), marshalOrNil(v.Get(tt.path...)); got != want {
				t.Errorf("Get(%q) = %s, want %s", tt.path, got, want)
			}
			// Once the whole event is parsed (Value), it answers.
			e.Value()
			if got, want := marshalOrNil(e.Get(tt.path...)), marshalOrNil(v.Get(tt.path...)); got != want {
				t.Errorf("after Value: Get(%q) = %s, want %s", tt.path, got, want)
			}
		})
	}
}

// TestBodyPathsRandom compares Get with the whole event's parse on random
// bodies whose characters are written as themselves or escaped, and paths
// made of their keys, others and indexes: keysAbsent may only skip the
// parse when there is nothing at the path.
func TestBodyPathsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	keys := []string{"spec", "hostPID", "host", "PID", "a/b", "0", "1"}
	quote := func(s string) string {
		var sb strings.Builder
		sb.WriteByte('"')
		for _, c := range []byte(s) {
			switch {
			case c == '/' && r.IntN(3) == 0:
				sb.WriteString(`\/`)
			case r.IntN(10) == 0:
				fmt.Fprintf(&sb, `\u%04x`, c)
			default:
				sb.WriteByte(c)
			}
		}
		sb.WriteByte('"')
		return sb.String()
	}
	var value func(depth int) string
	value = func(depth int) string {
		switch n := r.IntN(4); {
		case depth > 2 || n == 0:
			return quote(keys[r.IntN(len(keys))])
		case n == 1:
			var parts []string
			for range r.IntN(3) {
				parts = append(parts, value(depth+1))
			}
			return "[" + strings.Join(parts, ",") + "]"
		default:
			var parts []string
			for range r.IntN(3) + 1 {
				parts = append(parts, quote(keys[r.IntN(len(keys))])+":"+value(depth+1))
			}
			return "{" + strings.Join(parts, ",") + "}"
		}
	}
	const head = `{"auditID":"a","stage":"ResponseComplete","requestReceivedTimestamp":"2026-11-24T10:00:00Z","requestObject":`
	found := 0
	for range 5000 {
		line := head + value(0) + "}"
		v := fastjson.MustParse(line)
		var e Event
		if !e.Scan([]byte(line)) {
			t.Fatalf("not an event: %s", line)
		}
		for range 4 {
			path := []string{"requestObject"}
			for range r.IntN(3) + 1 {
				path = append(path, keys[r.IntN(len(keys))])
			}
			want := marshalOrNil(v.Get(path...))
			if got := marshalOrNil(e.Get(path...)); got != want {
				t.Fatalf("%s: Get(%q) = %s, want %s", line, path, got, want)
			}
			if want != "<nil>" {
				found++
			}
		}
	}
	if found < 1000 {
		t.Errorf("only %d paths found something", found)
	}
}

var surrogate = regexp.MustCompile(`\\[uU][dD][89a-fA-F]`)

func hasDuplicateKeys(v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		seen := map[string]bool{}
		dup := false
		o.Visit(func(k []byte, x *fastjson.Value) {
			if seen[string(k)] || hasDuplicateKeys(x) {
				dup = true
			}
			seen[string(k)] = true
		})
		return dup
	case fastjson.TypeArray:
		a, _ := v.Array()
		for _, x := range a {
			if hasDuplicateKeys(x) {
				return true
			}
		}
	}
	return false
}

// TestAnnotationCache: Event.Annotation, which reads the object once,
// answers as lookupString does on the raw object, for any key.
func TestAnnotationCache(t *testing.T) {
	const head = `{"auditID":"a","stage":"ResponseComplete","requestReceivedTimestamp":"2026-11-24T10:00:00Z","annotations":`
	tests := []struct {
		name string
		ann  string
		keys []string
	}{
		{"plain", `{"authorization.k8s.io/decision":"allow","k8s.io/deprecated":"true"}`, []string{"authorization.k8s.io/decision", "k8s.io/deprecated", "absent"}},
		{"repeated: the first", `{"a":"1","a":"2"}`, []string{"a"}},
		{"a list: its first string", `{"a":["x","y"],"b":[]}`, []string{"a", "b"}},
		{"not a string", `{"a":1,"b":null,"c":{"d":"e"},"f":"g"}`, []string{"a", "b", "c", "d", "f"}},
		{"escapes", `{"k\"q":"v\n1","u\u00e9":"\u00e9"}`, []string{"k\"q", "ué"}},
		{"empty", `{}`, []string{"a"}},
		// annotationAbsent's search: keys written with escapes are found.
		{"escaped slash", `{"authentication.k8s.io\/legacy-token":"x"}`, []string{"authentication.k8s.io/legacy-token"}},
		{"escaped letter", `{"\u0061":"1","b":"2"}`, []string{"a", "b"}},
		{"quotes in a value, key absent", `{"authorization.k8s.io/reason":"RBAC: allowed by \"x\" of \"y\""}`, []string{"authentication.k8s.io/legacy-token", "authorization.k8s.io/reason"}},
		{"escaped backslash before a slash", `{"a":"x\\/","b/c":"1"}`, []string{"b/c", "a/b"}},
		{"key only in a value", `{"a":"legacy-token"}`, []string{"legacy-token"}},
		{"non-ASCII key", `{"é":"1"}`, []string{"é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			if res := scanBoth(t, &e, []byte(head+tt.ann+"}")); res != scanEvent {
				t.Fatalf("scan = %v", res)
			}
			for _, k := range tt.keys {
				var arena []byte
				want := lookupString([]byte(tt.ann), k, &arena)
				if got := e.Annotation(k); got != want {
					t.Errorf("Annotation(%q) = %q, lookupString gives %q", k, got, want)
				}
			}
		})
	}
}

// TestAnnotationRandom checks Annotation against lookupString on random
// annotation objects whose characters are written as themselves or
// escaped (\/, \u00XX, \\), with keys and values built from confusable
// parts: annotationAbsent may only answer "absent" when the scan agrees.
func TestAnnotationRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	parts := []string{"k8s.io/legacy-token", "legacy", "-token", "/", "a", `"`, `\`, ":", ",", "é"}
	pick := func() string {
		var sb strings.Builder
		for range r.IntN(3) + 1 {
			sb.WriteString(parts[r.IntN(len(parts))])
		}
		return sb.String()
	}
	quote := func(s string) string {
		var sb strings.Builder
		sb.WriteByte('"')
		for _, c := range []byte(s) {
			switch {
			case c == '"' || c == '\\':
				sb.WriteByte('\\')
				sb.WriteByte(c)
			case c == '/' && r.IntN(4) == 0:
				sb.WriteString(`\/`)
			case c < 0x80 && r.IntN(8) == 0:
				fmt.Fprintf(&sb, `\u%04x`, c)
			default:
				sb.WriteByte(c)
			}
		}
		sb.WriteByte('"')
		return sb.String()
	}
	const head = `{"auditID":"a","stage":"ResponseComplete","requestReceivedTimestamp":"2026-11-24T10:00:00Z","annotations":`
	keys := []string{"k8s.io/legacy-token", "legacy", "a", "é", "legacy-token"}
	for range 5000 {
		var sb strings.Builder
		sb.WriteByte('{')
		for i := range r.IntN(4) {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(quote(pick()) + ":" + quote(pick()))
		}
		sb.WriteByte('}')
		ann := sb.String()
		var e Event
		if !e.Scan([]byte(head + ann + "}")) {
			t.Fatalf("not an event: %s", ann)
		}
		for _, k := range keys {
			var arena []byte
			if got, want := e.Annotation(k), lookupString([]byte(ann), k, &arena); got != want {
				t.Fatalf("Annotation(%q) on %s = %q, lookupString gives %q", k, ann, got, want)
			}
		}
	}
}

// scanBoth scans line with its bitmap (classify) and a timestamp cache
// into e, and word by word without a cache into another event, and fails unless both read the same.
func scanBoth(t testing.TB, e *Event, line []byte) scanResult {
	t.Helper()
	bm, _, _ := classify(line, nil)
	var tc minuteCache
	res := e.scan(line, bm, &tc, false)
	var w Event
	if wres := w.scan(line, nil, nil, false); wres != res {
		t.Fatalf("%q: with the bitmap the scan says %v, word by word %v", line, res, wres)
	}
	// Annotations and the node read by the scan (Decoder.Eager): the
	// same event, and the same answer to every Annotation and NodeName
	// as the lazy read.
	var a Event
	if ares := a.scan(line, bm, nil, true); ares != res {
		t.Fatalf("%q: eager, the scan says %v, lazily %v", line, ares, res)
	}
	if res == scanEvent {
		if got, want := describe(e), describe(&w); got != want {
			t.Fatalf("%q: with the bitmap\n%s\nword by word\n%s", line, got, want)
		}
		if got, want := describe(&a), describe(&w); got != want {
			t.Fatalf("%q: eager\n%s\nlazily\n%s", line, got, want)
		}
		if got, want := a.NodeName(), w.NodeName(); got != want {
			t.Fatalf("%q: NodeName() = %q eager, %q lazily", line, got, want)
		}
		var lazy Event
		lazy.scan(line, nil, nil, false)
		lazy.VisitAnnotations(func(k, _ string) {
			for _, key := range []string{k, k + "x", "authorization.k8s.io/decision", "k8s.io/deprecated"} {
				if got, want := a.Annotation(key), lazy.Annotation(key); got != want {
					t.Fatalf("%q: Annotation(%q) = %q eager, %q lazily", line, key, got, want)
				}
			}
		})
	}
	return res
}

// TestMinuteCache reads timestamps in turn through one cache, as a
// decoder does, and checks each against parseTime: hits, misses, a new
// minute, a leap second, damage after a cached minute.
func TestMinuteCache(t *testing.T) {
	var c minuteCache
	for _, ts := range []string{
		"2026-12-01T10:00:00.123456Z",
		"2026-12-01T10:00:59.999999Z", // same minute
		"2026-12-01T10:00:07Z",        // no fraction
		"2026-12-01T10:00:07.5Z",
		"2026-12-01T10:01:00.000001Z", // next minute
		"2026-12-01T10:01:60.5Z",      // leap second: the long way
		"2026-12-01T10:01:6x.5Z",      // damaged seconds
		"2026-12-01T10:01:05.12345678901Z",
		"2026-12-01T10:01:05.12a456Z",
		"2026-12-01T10:01:05.123456",    // no Z: a layout of parseTime's
		"2026-12-01T10:01:05.123+01:00", // an offset
		"2026-12-01T10:01:05.Z",
		"2026-12-31T23:59:59.999999999Z",
		"2027-01-01T00:00:00Z",
		"",
		"x",
	} {
		if got, want := c.parse([]byte(ts)), parseTime([]byte(ts)); !got.Equal(want) || got.Location() != want.Location() {
			t.Errorf("%q: cached %v, want %v", ts, got, want)
		}
	}
}

// TestKeyLitMatch compares the word compares of keyLit.match with a plain
// prefix test, for keys of every length up to 30, a byte changed at each
// place, and the input cut short.
func TestKeyLitMatch(t *testing.T) {
	for n := 1; n <= 30; n++ {
		key := strings.Repeat("k", n-1) + "z"
		l := &newKeyOrder(key)[0]
		inputs := [][]byte{[]byte(l.lit + `"v"}`), []byte(l.lit)}
		for i := range l.lit {
			b := []byte(l.lit + `"v"}`)
			b[i] ^= 0x20
			inputs = append(inputs, b, b[:len(l.lit)], []byte(l.lit[:i]))
		}
		for _, in := range inputs {
			for _, pad := range []string{"", "{", `{"a":1,`} {
				b := append([]byte(pad), in...)
				if got, want := l.match(b, len(pad)), bytes.HasPrefix(b[len(pad):], []byte(l.lit)); got != want {
					t.Errorf("key %q in %q at %d: match %v, want %v", key, b, len(pad), got, want)
				}
			}
		}
	}
}

// nodeNameRef is Event.NodeName by its definition: the name after
// system:node:, else the first value of user.extra's node-name key.
func nodeNameRef(e *Event) string {
	if n, ok := strings.CutPrefix(e.User.Username, "system:node:"); ok {
		return n
	}
	return e.User.Extra(ExtraNodeName)
}

// TestNodeName: the node name the scan reads from user.extra, against
// Extra's reading of the same object.
func TestNodeName(t *testing.T) {
	for _, tc := range []struct{ name, user, extra, want string }{
		{"kubelet", `system:node:n1`, `{"authentication.kubernetes.io/node-name":["other"]}`, "n1"},
		{"bound token", `system:serviceaccount:kube-system:ds`, `{"authentication.kubernetes.io/credential-id":["JTI=x"],"authentication.kubernetes.io/node-name":["node-7"],"authentication.kubernetes.io/node-uid":["u"]}`, "node-7"},
		{"string value", `sa`, `{"authentication.kubernetes.io/node-name":"node-8"}`, "node-8"},
		{"escaped key and value", `sa`, `{"authentication.kubernetes.io\/node-name":["n\u0039"]}`, "n9"},
		{"first of duplicates", `sa`, `{"authentication.kubernetes.io/node-name":["a"],"authentication.kubernetes.io/node-name":["b"]}`, "a"},
		{"empty list", `sa`, `{"authentication.kubernetes.io/node-name":[]}`, ""},
		{"not a string", `sa`, `{"authentication.kubernetes.io/node-name":7}`, ""},
		{"nested, not the key", `sa`, `{"x":{"authentication.kubernetes.io/node-name":["deep"]}}`, ""},
		{"a value, not a key", `sa`, `{"k":["authentication.kubernetes.io/node-name"]}`, ""},
		{"no extra", `sa`, ``, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.extra != "" {
				extra = `,"extra":` + tc.extra
			}
			line := `{"kind":"Event","auditID":"a","stage":"ResponseComplete","user":{"username":"` + tc.user + `"` + extra + `},"verb":"get","stageTimestamp":"2026-11-24T00:00:00.000001Z"}`
			for _, eager := range []bool{false, true} {
				var e Event
				if e.scan([]byte(line), nil, nil, eager) != scanEvent {
					t.Fatalf("not an event: %s", line)
				}
				if got := e.NodeName(); got != tc.want {
					t.Errorf("eager %v: NodeName() = %q, want %q", eager, got, tc.want)
				}
				if got, want := e.NodeName(), nodeNameRef(&e); got != want {
					t.Errorf("eager %v: NodeName() = %q, Extra gives %q", eager, got, want)
				}
			}
		})
	}
}

// TestEventOrderPositions: the constants the event's field callback
// switches on are the positions of their keys in eventOrder.
func TestEventOrderPositions(t *testing.T) {
	for key, want := range map[string]int{
		"kind": evKind, "apiVersion": evAPIVersion, "level": evLevel, "auditID": evAuditID, "stage": evStage,
		"requestURI": evRequestURI, "verb": evVerb, "user": evUser, "impersonatedUser": evImpersonatedUser,
		"sourceIPs": evSourceIPs, "userAgent": evUserAgent, "objectRef": evObjectRef, "responseStatus": evResponseStatus,
		"requestObject": evRequestObject, "responseObject": evResponseObject,
		"requestReceivedTimestamp": evRequestReceivedTimestamp, "stageTimestamp": evStageTimestamp, "annotations": evAnnotations,
	} {
		if got := eventOrder.index([]byte(key)); got != want {
			t.Errorf("eventOrder.index(%q) = %d, the constant is %d", key, got, want)
		}
	}
	if len(eventOrder) != evAnnotations+1 {
		t.Errorf("eventOrder has %d keys, the constants %d", len(eventOrder), evAnnotations+1)
	}
	if got := eventOrder.index([]byte("timestamp")); got != -1 {
		t.Errorf("eventOrder.index(timestamp) = %d, want -1", got)
	}
}
