package audit

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestClassify checks the vector bitmap against the byte loop for every
// length up to a few blocks and every alignment, with each byte value.
func TestClassify(t *testing.T) {
	if !haveClassify {
		t.Skip("no AVX2: the scanner uses its word loop")
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'"', '\\', 'a', 0, 0x7f, 0x80, 0xff, '{', ' '}
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
				want, wantHigh := classifyGo(b, nil)
				got, gotHigh := classifyAsm(b[:n:n], nil)
				if !slices.Equal(got, want) || gotHigh != wantHigh {
					t.Fatalf("len %d offset %d: bitmap %x high %v, want %x high %v", n, off, got, gotHigh, want, wantHigh)
				}
				got, gotHigh = classifyAsm(b, nil)
				if n%64 != 0 && len(got) > 0 {
					got[len(got)-1] &= 1<<(n%64) - 1 // bits past the length are not b's
				}
				if !slices.Equal(got, want) || wantHigh && !gotHigh {
					t.Fatalf("len %d offset %d, read on: bitmap %x high %v, want %x high %v", n, off, got, gotHigh, want, wantHigh)
				}
			}
		}
	}
}

// TestClassifyReuse checks that a longer line's bitmap left in the buffer
// does not leak into a shorter one's.
func TestClassifyReuse(t *testing.T) {
	bm, _ := classify([]byte(`"`+string(make([]byte, 200))+`"`), nil)
	bm, _ = classify([]byte(`{"a":"b"}`), bm)
	want, _ := classifyGo([]byte(`{"a":"b"}`), nil)
	if haveClassify && !slices.Equal(bm, want) {
		t.Fatalf("bitmap %x, want %x", bm, want)
	}
}
