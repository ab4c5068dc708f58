package audit

import (
	"math/bits"
	"unicode/utf8"
)

// The scanner finds the end of a string from a bitmap of the line's quotes
// and backslashes, built once per line 64 bytes at a time (AVX2 on amd64;
// see classify_amd64.s): a string's end is then a trailing-zero count, not
// a loop over its bytes. The same pass says whether the line is all ASCII,
// which spares the UTF-8 check of most lines. Without AVX2 the scanner
// searches each string eight bytes at a time (rawString's word loop).

// classify returns the line's bitmap, the bitmap of its non-ASCII bytes,
// and whether it has any; with no bitmaps (nil) to use, it reports true,
// so the caller checks UTF-8. bits is the storage to reuse.
func classify(b []byte, bits []uint64) (bm, hb []uint64, high bool) {
	if !haveClassify {
		return nil, nil, true
	}
	return classifyAsm(b, bits)
}

// classifyGo is classifyAsm's reference: the tests check they agree.
func classifyGo(b []byte) (bm, hb []uint64, high bool) {
	words := (len(b) + 63) >> 6
	bm, hb = make([]uint64, words), make([]uint64, words)
	for i, c := range b {
		if c == '"' || c == '\\' {
			bm[i>>6] |= 1 << (i & 63)
		}
		if c >= 0x80 {
			hb[i>>6] |= 1 << (i & 63)
			high = true
		}
	}
	return bm, hb, high
}

// validUTF8 is utf8.Valid(b), through validHigh when classify gave the
// bitmap of b's non-ASCII bytes (hb).
func validUTF8(b []byte, hb []uint64) bool {
	if hb == nil {
		return utf8.Valid(b)
	}
	return validHigh(b, hb)
}

// validHigh reports whether b is valid UTF-8, given hb, the bitmap of its
// bytes that are not ASCII (bits past len(b) are ignored): each run of
// such bytes must be whole UTF-8 sequences, as ASCII bytes are valid on
// their own and never part of a sequence. Lines of a large cluster's log
// hold a few (apiserver.latency annotations' "µs"), and checking them
// alone spares the whole line's check.
func validHigh(b []byte, hb []uint64) bool {
	for w := 0; w < len(hb); w++ {
		for word := hb[w]; word != 0; {
			start := w<<6 + bits.TrailingZeros64(word)
			if start >= len(b) {
				return true
			}
			// The run ends at the first ASCII byte after start.
			end := start
			for end < len(b) && b[end] >= 0x80 {
				end++
			}
			if !utf8.Valid(b[start:end]) {
				return false
			}
			if end>>6 > w {
				// The run went on into later words: go on after it.
				w = end >> 6
				if w >= len(hb) {
					return true
				}
				word = hb[w] &^ (1<<(end&63) - 1)
				continue
			}
			word &^= 1<<(end&63) - 1
		}
	}
	return true
}
