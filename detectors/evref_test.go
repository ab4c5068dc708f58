package detectors

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// TestIDBuf checks that an auditID comes back as written (or cut to idRaw
// bytes when it is not a UUID), and that kept IDs order as their texts.
func TestIDBuf(t *testing.T) {
	tests := []struct {
		name, id, want string
		packed         bool
	}{
		{"uuid", "6b1f2c7e-0d6a-4d7b-9a51-0a1c3e5f7a02", "6b1f2c7e-0d6a-4d7b-9a51-0a1c3e5f7a02", true},
		{"upper uuid", "6B1F2C7E-0D6A-4D7B-9A51-0A1C3E5F7A02", "6B1F2C7E-0D6A-4D7B-9A51-0A1C3E5F7A02", true},
		{"digits only", "12345678-1234-1234-1234-123456789012", "12345678-1234-1234-1234-123456789012", true},
		{"no dashes", "6b1f2c7e0d6a4d7b9a510a1c3e5f7a02", "6b1f2c7e0d6a4d7b9a510a1c3e5f7a02", true},
		{"no dashes upper", "6B1F2C7E0D6A4D7B9A510A1C3E5F7A02", "6B1F2C7E0D6A4D7B9A510A1C3E5F7A02", true},
		{"mixed case", "6b1f2c7e-0D6A-4d7b-9a51-0a1c3e5f7a02", "6b1f2c7e-0D6A-4d7b-9a51", false},
		{"dash misplaced", "6b1f2c7e0-d6a-4d7b-9a51-0a1c3e5f7a02", "6b1f2c7e0-d6a-4d7b-9a51", false},
		{"not hex", "6b1f2c7e-0d6a-4d7b-9a51-0a1c3e5f7a0g", "6b1f2c7e-0d6a-4d7b-9a51", false},
		{"no dashes not hex", "6b1f2c7e0d6a4d7b9a510a1c3e5f7a0z", "6b1f2c7e0d6a4d7b9a510a1", false},
		{"no dashes with a dash", "6b1f2c7e-d6a4d7b9a510a1c3e5f7a02", "6b1f2c7e-d6a4d7b9a510a1", false},
		{"no dashes mixed case", "6b1f2c7e0d6a4d7b9a510A1C3E5F7A02", "6b1f2c7e0d6a4d7b9a510A1", false},
		{"dash where a digit is", "6b1f2c7e-0d6a-4d7b-9a51-0a1c3e5f-a02", "6b1f2c7e-0d6a-4d7b-9a51", false},
		{"short", "evt-42", "evt-42", false},
		{"exactly raw", strings.Repeat("x", idRaw), strings.Repeat("x", idRaw), false},
		{"long client id", "req-2026-12-01-abcdefghijklmnopqrstuvwxyz", "req-2026-12-01-abcdefgh", false},
		{"empty", "", "", false},
		{"utf-8", "évènement-1", "évènement-1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := makeID(tt.id)
			if got := b.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := b.n&idPacked != 0; got != tt.packed {
				t.Errorf("packed = %v, want %v", got, tt.packed)
			}
			if got := cut(tt.id); got != tt.want {
				t.Errorf("cut() = %q, want %q", got, tt.want)
			}
			if b.compareString(tt.id) != 0 {
				t.Errorf("compareString(%q) != 0", tt.id)
			}
		})
	}
	if n := unsafe.Sizeof(evRef{}); n != 40 {
		t.Errorf("evRef is %d bytes, want 40", n)
	}
}

// TestIDBufOrder checks compare and compareString against the order of
// the kept texts, across every form.
func TestIDBufOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	hex := func(n int, digits string) string {
		var sb strings.Builder
		for range n {
			sb.WriteByte(digits[rng.IntN(16)])
		}
		return sb.String()
	}
	gen := func() string {
		lo, up := "0123456789abcdef", "0123456789ABCDEF"
		d := lo
		if rng.IntN(4) == 0 {
			d = up
		}
		switch rng.IntN(5) {
		case 0:
			return hex(32, d)
		case 1:
			return "evt-" + hex(rng.IntN(30), lo)
		case 2: // UUIDs sharing a prefix, so the low bytes decide
			return "6b1f2c7e-0d6a-4d7b-9a51-0a1c3e5f" + hex(4, lo)
		default:
			return hex(8, d) + "-" + hex(4, d) + "-" + hex(4, d) + "-" + hex(4, d) + "-" + hex(12, d)
		}
	}
	sign := func(c int) int { return min(max(c, -1), 1) }
	for range 20000 {
		a, b := gen(), gen()
		if rng.IntN(10) == 0 {
			b = a
		}
		ia, ib := makeID(a), makeID(b)
		want := sign(strings.Compare(cut(a), cut(b)))
		if got := sign(ia.compare(&ib)); got != want {
			t.Fatalf("compare(%q, %q) = %d, want %d", a, b, got, want)
		}
		if got := sign(ib.compareString(a)); got != -want {
			t.Fatalf("compareString: %q vs %q = %d, want %d", b, a, got, -want)
		}
		ra, rb := makeRef(5, a, 1, 0), makeRef(5, b, 1, 0)
		if ra.less(&rb) != (want < 0) || lessView(5, a, &rb) != (want < 0) {
			t.Fatalf("less(%q, %q) disagrees with %d", a, b, want)
		}
	}
}

// TestMakeRef checks where an event was read survives, and that what
// does not fit is kept as unknown rather than wrong.
func TestMakeRef(t *testing.T) {
	tests := []struct {
		name     string
		file     uint32
		off      int64
		wantFile uint32
		wantOff  int64
	}{
		{"first input", 1, 0, 1, 0},
		{"big offset", 3, 1<<evOffBits - 1, 3, 1<<evOffBits - 1},
		{"offset past a TB", 3, 1 << evOffBits, 0, 0},
		{"many inputs", 1<<evFileBits - 1, 77, 1<<evFileBits - 1, 77},
		{"too many inputs", 1 << evFileBits, 77, 0, 0},
		{"unknown input", 0, 77, 0, 0},
		{"negative offset", 2, -1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := makeRef(9, "a", tt.file, tt.off)
			if r.file() != tt.wantFile || r.off() != tt.wantOff {
				t.Errorf("file, off = %d, %d; want %d, %d", r.file(), r.off(), tt.wantFile, tt.wantOff)
			}
		})
	}
}
