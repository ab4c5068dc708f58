package audit

import "golang.org/x/sys/cpu"

// classifyBlocks is in classify_amd64.s (AVX2).
//
//go:noescape
func classifyBlocks(p *byte, blocks int, bits, high *uint64) uint32

var haveClassify = cpu.X86.HasAVX2

// classifyAsm fills bits with two bitmaps (one word per 64 bytes of b,
// the last one padded, or filled from b's capacity): where b's quotes and
// backslashes are (bm), and where its bytes that are not ASCII are (hb),
// 64 bytes per step, and reports whether b has a byte that is not ASCII
// (or may have: see the capacity).
func classifyAsm(b []byte, bits []uint64) (bm, hb []uint64, high bool) {
	words := (len(b) + 63) >> 6
	if cap(bits) < 2*words {
		bits = make([]uint64, 2*words, 2*words+words/2)
	}
	bits = bits[:2*words]
	bm, hb = bits[:words], bits[words:]
	full := len(b) >> 6
	if words > full && cap(b) >= words<<6 {
		// The last block reads on into b's capacity (a line in its
		// chunk): bits past len(b) are of other bytes, and the scanner,
		// which never looks past len(b), fails a string that would end
		// there as unterminated anyway. Their high bit may make the
		// caller check UTF-8 for nothing.
		return bm, hb, classifyBlocks(&b[:cap(b)][0], words, &bm[0], &hb[0]) != 0
	}
	var h uint32
	if full > 0 {
		h = classifyBlocks(&b[0], full, &bm[0], &hb[0])
	}
	if tail := b[full<<6:]; len(tail) > 0 {
		var pad [64]byte
		copy(pad[:], tail)
		h |= classifyBlocks(&pad[0], 1, &bm[full], &hb[full])
	}
	return bm, hb, h != 0
}
