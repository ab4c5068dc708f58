package audit

import "golang.org/x/sys/cpu"

// classifyBlocks is in classify_amd64.s (AVX2).
//
//go:noescape
func classifyBlocks(p *byte, blocks int, bits *uint64) uint32

var haveClassify = cpu.X86.HasAVX2

// classifyAsm fills bits (one word per 64 bytes of b, the last one padded,
// or filled from b's capacity) with where b's quotes and backslashes are,
// 64 bytes per step, and reports whether b has a byte that is not ASCII
// (or may have: see the capacity).
func classifyAsm(b []byte, bits []uint64) ([]uint64, bool) {
	words := (len(b) + 63) >> 6
	if cap(bits) < words {
		bits = make([]uint64, words, words+words/4)
	}
	bits = bits[:words]
	full := len(b) >> 6
	if words > full && cap(b) >= words<<6 {
		// The last block reads on into b's capacity (a line in its
		// chunk): bits past len(b) are of other bytes, and the scanner,
		// which never looks past len(b), fails a string that would end
		// there as unterminated anyway. Their high bit may make the
		// caller check UTF-8 for nothing.
		return bits, classifyBlocks(&b[:cap(b)][0], words, &bits[0]) != 0
	}
	var high uint32
	if full > 0 {
		high = classifyBlocks(&b[0], full, &bits[0])
	}
	if tail := b[full<<6:]; len(tail) > 0 {
		var pad [64]byte
		copy(pad[:], tail)
		high |= classifyBlocks(&pad[0], 1, &bits[full])
	}
	return bits, high != 0
}
