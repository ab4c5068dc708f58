package audit

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unicode/utf8"
)

// TestClassify checks the vector bitmap against the byte loop for every
// length up to a few blocks and every alignment, with each byte value.
func TestClassify(t *testing.T) {
	if !haveClassify {
		t.Skip("no AVX2: the scanner uses its word loop")
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'"', '\\', 'a', 0, 0x7f, 0x80, 0xff, '{', ' ', 0xc2, 0xb5, 0xe2, 0x82, 0xac, 0xf0, 0x9f}
	buf := make([]byte, 300)
	for n := 0; n <= 260; n++ {
		for off := 0; off < 4; off++ {
			for round := 0; round < 8; round++ {
				b := buf[off : off+n]
				for i := range b {
					if round == 0 {
						b[i] = byte(i) // every byte value once
					} else {
						b[i] = alphabet[r.IntN(len(alphabet))]
					}
				}
				// Cut to its length (the padded tail), then with the rest
				// of buf as capacity (read on): the bits of b agree.
				want, wantHB, wantHigh := classifyGo(b)
				got, gotHB, gotHigh := classifyAsm(b[:n:n], nil)
				if !slices.Equal(got, want) || !slices.Equal(gotHB, wantHB) || gotHigh != wantHigh {
					t.Fatalf("len %d offset %d: bitmap %x high %x (%v), want %x high %x (%v)", n, off, got, gotHB, gotHigh, want, wantHB, wantHigh)
				}
				got, gotHB, gotHigh = classifyAsm(b, nil)
				if n%64 != 0 && len(got) > 0 {
					got[len(got)-1] &= 1<<(n%64) - 1 // bits past the length are not b's
					gotHB[len(gotHB)-1] &= 1<<(n%64) - 1
				}
				if !slices.Equal(got, want) || !slices.Equal(gotHB, wantHB) || wantHigh && !gotHigh {
					t.Fatalf("len %d offset %d, read on: bitmap %x high %x (%v), want %x high %x (%v)", n, off, got, gotHB, gotHigh, want, wantHB, wantHigh)
				}
				if ok := validHigh(b, wantHB); ok != utf8.Valid(b) {
					t.Fatalf("len %d offset %d: validHigh = %v, utf8.Valid %v: %x", n, off, ok, !ok, b)
				}
			}
		}
	}
}

// TestClassifyReuse checks that a longer line's bitmap left in the buffer
// does not leak into a shorter one's.
func TestClassifyReuse(t *testing.T) {
	bm, _, _ := classify([]byte(`"`+string(make([]byte, 200))+`"`), nil)
	bm, _, _ = classify([]byte(`{"a":"b"}`), bm)
	want, _, _ := classifyGo([]byte(`{"a":"b"}`))
	if haveClassify && !slices.Equal(bm, want) {
		t.Fatalf("bitmap %x, want %x", bm, want)
	}
}

// TestValidHigh compares validHigh with utf8.Valid on random texts of
// ASCII and the bytes of one- to four-byte sequences (whole, cut, out of
// order), runs across 64-byte words included, and bits past the end.
func TestValidHigh(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	whole := []string{"a", "\"", "µ", "€", "😀"}
	broken := []string{"\xc2", "\xb5", "\xe2\x82", "\xf0\x9f\x98", "\xff", "\x80", "\xed\xa0\x80"}
	valid := 0
	for range 20000 {
		var b []byte
		for range r.IntN(80) {
			if r.IntN(60) == 0 {
				b = append(b, broken[r.IntN(len(broken))]...)
			} else {
				b = append(b, whole[r.IntN(len(whole))]...)
			}
		}
		if utf8.Valid(b) {
			valid++
		}
		_, hb, _ := classifyGo(b)
		if got, want := validHigh(b, hb), utf8.Valid(b); got != want {
			t.Fatalf("validHigh(%q) = %v, utf8.Valid %v", b, got, want)
		}
		if len(b)&63 != 0 {
			// Bits past the end (another line's bytes) do not count.
			hb[len(hb)-1] |= ^uint64(0) << (len(b) & 63)
			if got, want := validHigh(b, hb), utf8.Valid(b); got != want {
				t.Fatalf("validHigh(%q) with bits past the end = %v, utf8.Valid %v", b, got, want)
			}
		}
	}
	if valid < 5000 || valid > 15000 {
		t.Errorf("%d of 20000 texts valid: the test needs both", valid)
	}
}
