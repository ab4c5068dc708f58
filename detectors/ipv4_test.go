package detectors

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestParseIPv4(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"10.0.0.1", true},
		{"255.255.255.255", true},
		{"0.0.0.0", true},
		{"192.168.100.7", true},
		{"010.0.0.1", false}, // a leading zero would not print back the same
		{"10.0.0.01", false},
		{"256.0.0.1", false},
		{"10.0.0", false},
		{"10.0.0.1.2", false},
		{"10..0.1", false},
		{"10.0.0.1 ", false},
		{"::1", false},
		{"2001:db8::1", false},
		{"a.b.c.d", false},
		{"1.2.3.4444", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, ok := parseIPv4(tt.in)
			if ok != tt.ok {
				t.Fatalf("parseIPv4(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			if ok && formatIPv4(a) != tt.in {
				t.Fatalf("formatIPv4(parseIPv4(%q)) = %q", tt.in, formatIPv4(a))
			}
		})
	}
}

// TestParseIPv4Random: parseIPv4 accepts exactly the strings that are
// four dot-separated numbers 0-255 printed without leading zeros
// (formatIPv4's output), on random strings of digits and dots.
func TestParseIPv4Random(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const alphabet = "0123456789.0123456789..x"
	accepted := 0
	for range 300000 {
		b := make([]byte, r.IntN(17))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		s := string(b)
		want := canonicalIPv4(s)
		a, ok := parseIPv4(s)
		if ok != want {
			t.Fatalf("parseIPv4(%q) ok = %v, want %v", s, ok, want)
		}
		if ok {
			accepted++
			if formatIPv4(a) != s {
				t.Fatalf("parseIPv4(%q) = %q", s, formatIPv4(a))
			}
		}
	}
	if accepted < 100 {
		t.Errorf("only %d random strings were addresses", accepted)
	}
}

// canonicalIPv4 is the definition parseIPv4 implements, written plainly.
func canonicalIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 || strconv.Itoa(n) != p {
			return false
		}
	}
	return true
}

// FuzzIPv4RoundTrip: an address parseIPv4 accepts prints back as itself,
// so identityAt sees the strings the log has.
func FuzzIPv4RoundTrip(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "010.0.0.1", "1.2.3", "300.1.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a, ok := parseIPv4(s); ok && formatIPv4(a) != s {
			t.Fatalf("%q came back as %q", s, formatIPv4(a))
		}
	})
}

// formatIPv4 is parseIPv4's inverse.
func formatIPv4(a uint32) string {
	b := make([]byte, 0, 15)
	for k := 3; k >= 0; k-- {
		b = strconv.AppendUint(b, uint64(a>>(8*k)&0xff), 10)
		if k > 0 {
			b = append(b, '.')
		}
	}
	return string(b)
}
