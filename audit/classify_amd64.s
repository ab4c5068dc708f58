#include "textflag.h"

// func classifyBlocks(p *byte, blocks int, bits *uint64) uint32
//
// For each 64-byte block at p, bits gets a word with bit k set where byte k
// is a quote or a backslash. The result has a bit set if any byte read has
// its high bit set (is not ASCII).
TEXT ·classifyBlocks(SB), NOSPLIT, $0-28
	MOVQ p+0(FP), SI
	MOVQ blocks+8(FP), CX
	MOVQ bits+16(FP), DI
	MOVL $0x22, AX
	MOVQ AX, X0
	VPBROADCASTB X0, Y0
	MOVL $0x5c, AX
	MOVQ AX, X1
	VPBROADCASTB X1, Y1
	VPXOR Y7, Y7, Y7
	TESTQ CX, CX
	JZ done

loop:
	VMOVDQU (SI), Y2
	VMOVDQU 32(SI), Y3
	VPOR Y2, Y7, Y7
	VPOR Y3, Y7, Y7
	VPCMPEQB Y0, Y2, Y4
	VPCMPEQB Y1, Y2, Y5
	VPOR Y5, Y4, Y4
	VPMOVMSKB Y4, AX
	VPCMPEQB Y0, Y3, Y5
	VPCMPEQB Y1, Y3, Y6
	VPOR Y6, Y5, Y5
	VPMOVMSKB Y5, BX
	SHLQ $32, BX
	ORQ BX, AX
	MOVQ AX, (DI)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ loop

done:
	VPMOVMSKB Y7, AX
	VZEROUPPER
	MOVL AX, ret+24(FP)
	RET
