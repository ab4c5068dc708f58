package audit

// The scanner finds the end of a string from a bitmap of the line's quotes
// and backslashes, built once per line 64 bytes at a time (AVX2 on amd64;
// see classify_amd64.s): a string's end is then a trailing-zero count, not
// a loop over its bytes. The same pass says whether the line is all ASCII,
// which spares the UTF-8 check of most lines. Without AVX2 the scanner
// searches each string eight bytes at a time (rawString's word loop).

// classify returns the line's bitmap and whether it has non-ASCII bytes;
// with no bitmap (nil) to use, it reports true, so the caller checks UTF-8.
func classify(b []byte, bits []uint64) ([]uint64, bool) {
	if !haveClassify {
		return nil, true
	}
	return classifyAsm(b, bits)
}

// classifyGo is classifyAsm's reference: the tests check they agree.
func classifyGo(b []byte, bits []uint64) ([]uint64, bool) {
	words := (len(b) + 63) >> 6
	bits = append(bits[:0], make([]uint64, words)...)
	high := false
	for i, c := range b {
		if c == '"' || c == '\\' {
			bits[i>>6] |= 1 << (i & 63)
		}
		if c >= 0x80 {
			high = true
		}
	}
	return bits, high
}
