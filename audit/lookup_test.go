package audit

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

// TestLookupCompact: the byte search finds what a scan of the object
// finds, and leaves to the scan the shapes where bytes could mislead.
func TestLookupCompact(t *testing.T) {
	const k = "authentication.kubernetes.io/node-name"
	tests := []struct {
		name, obj, want string
		fast            bool // lookupCompact decides
	}{
		{"first key", `{"authentication.kubernetes.io/node-name":["node-1"],"b":["x"]}`, "node-1", true},
		{"later key", `{"a":["x","y"],"authentication.kubernetes.io/node-name":["node-2"]}`, "node-2", true},
		{"string value", `{"authentication.kubernetes.io/node-name":"node-3"}`, "node-3", true},
		{"absent", `{"a":["x"]}`, "", true},
		{"empty array", `{"authentication.kubernetes.io/node-name":[]}`, "", true},
		{"not a string", `{"authentication.kubernetes.io/node-name":7}`, "", true},
		{"as a value", `{"a":["authentication.kubernetes.io/node-name"],"b":"authentication.kubernetes.io/node-name"}`, "", true},
		{"a longer key", `{"authentication.kubernetes.io/node-name-x":["no"],"authentication.kubernetes.io/node-name":["yes"]}`, "yes", true},
		{"key suffix", `{"xauthentication.kubernetes.io/node-name":["no"]}`, "", true},
		{"first of two", `{"authentication.kubernetes.io/node-name":["one"],"authentication.kubernetes.io/node-name":["two"]}`, "one", true},
		{"white space", "{ \"a\" : [ \"x\" ] ,\n  \"authentication.kubernetes.io/node-name\" : [ \"node-4\" ] }", "node-4", true},
		{"nested object", `{"a":{"authentication.kubernetes.io/node-name":["no"]},"authentication.kubernetes.io/node-name":["yes"]}`, "yes", false},
		{"escaped quote", `{"a\"authentication.kubernetes.io/node-name":["no"],"authentication.kubernetes.io/node-name":["yes"]}`, "yes", false},
		{"escaped key", `{"authentication.kubernetes.io\/node-name":["node-5"]}`, "node-5", false},
		{"escaped value", `{"authentication.kubernetes.io/node-name":["n\u006fde-6"]}`, "node-6", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := fastjson.Validate(tt.obj); err != nil {
				t.Fatalf("test object is not JSON: %v", err)
			}
			var arena []byte
			got, fast := lookupCompact([]byte(tt.obj), k, &arena)
			if fast != tt.fast {
				t.Errorf("lookupCompact decides: %v, want %v", fast, tt.fast)
			}
			if fast && got != tt.want {
				t.Errorf("lookupCompact = %q, want %q", got, tt.want)
			}
			if got := lookupString([]byte(tt.obj), k, &arena); got != tt.want {
				t.Errorf("lookupString = %q, want %q", got, tt.want)
			}
			if got := lookupScan([]byte(tt.obj), k, &arena); got != tt.want {
				t.Errorf("lookupScan = %q, want %q (the test is wrong)", got, tt.want)
			}
		})
	}
}

// TestLookupCompactRandom compares the byte search with the scan on
// random user.extra-shaped objects built from confusable keys and values.
func TestLookupCompactRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	words := []string{"node-name", "k", "node-name-x", "xnode-name", `"`, ":", ",", "{", "[", "]", "}", " ", "node", ""}
	pick := func() string {
		var sb strings.Builder
		for range r.IntN(3) + 1 {
			sb.WriteString(words[r.IntN(len(words))])
		}
		return sb.String()
	}
	quote := func(s string) string { return fmt.Sprintf("%q", s) }
	decided := 0
	for range 20000 {
		var sb strings.Builder
		sb.WriteByte('{')
		for i := range r.IntN(4) {
			if i > 0 {
				sb.WriteString([]string{",", " , ", ",\n"}[r.IntN(3)])
			}
			sb.WriteString(quote(pick()))
			sb.WriteByte(':')
			switch r.IntN(4) {
			case 0:
				sb.WriteString(quote(pick()))
			case 1:
				sb.WriteString(`{` + quote(pick()) + `:` + quote(pick()) + `}`)
			default:
				sb.WriteByte('[')
				for j := range r.IntN(3) {
					if j > 0 {
						sb.WriteByte(',')
					}
					sb.WriteString(quote(pick()))
				}
				sb.WriteByte(']')
			}
		}
		sb.WriteByte('}')
		obj := sb.String()
		if fastjson.Validate(obj) != nil {
			t.Fatalf("not JSON: %s", obj)
		}
		for _, key := range []string{"node-name", "k", "node"} {
			var arena []byte
			got, ok := lookupCompact([]byte(obj), key, &arena)
			if !ok {
				continue
			}
			decided++
			if want := lookupScan([]byte(obj), key, &arena); got != want {
				t.Fatalf("lookupCompact(%s, %q) = %q, the scan finds %q", obj, key, got, want)
			}
		}
	}
	// A key of JSON's own characters could match across two strings
	// ({"a":":"} holds `":"`): the scan decides.
	if _, ok := lookupCompact([]byte(`{"a":":","b":["c"]}`), ":", new([]byte)); ok {
		t.Error("lookupCompact decided for the key \":\"")
	}
	if decided < 10000 {
		t.Errorf("the byte search decided only %d lookups", decided)
	}
}

// TestKeyIn compares keyIn with strings.Contains on random texts and keys
// over a small alphabet (many false hits of the rarest byte), and keys at
// both ends of the text.
func TestKeyIn(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const alphabet = `abqQ8":/`
	gen := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 50000 {
		s, key := gen(r.IntN(40)), gen(r.IntN(5)+1)
		if got, want := keyIn(s, key), strings.Contains(s, key); got != want {
			t.Fatalf("keyIn(%q, %q) = %v, want %v", s, key, got, want)
		}
	}
	for _, tt := range []struct{ s, key string }{{"hostPID", "hostPID"}, {"xhostPID", "hostPID"}, {"hostPIDx", "hostPID"}, {"hostPI", "hostPID"}, {"", "a"}} {
		if got, want := keyIn(tt.s, tt.key), strings.Contains(tt.s, tt.key); got != want {
			t.Errorf("keyIn(%q, %q) = %v, want %v", tt.s, tt.key, got, want)
		}
	}
}
