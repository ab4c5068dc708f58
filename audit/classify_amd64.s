#include "textflag.h"

// func classifyBlocks(p *byte, blocks int, bits, high *uint64) uint32
//
// For each 64-byte block at p, bits gets a word with bit k set where byte k
// is a quote or a backslash, and high one with bit k set where byte k has
// its high bit set (is not ASCII). The result has a bit set if any byte
// read is not ASCII.
TEXT ·classifyBlocks(SB), NOSPLIT, $0-36
	MOVQ p+0(FP), SI
	MOVQ blocks+8(FP), CX
	MOVQ bits+16(FP), DI
	MOVQ high+24(FP), R10
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
	VPMOVMSKB Y2, R8
	VPMOVMSKB Y3, R9
	SHLQ $32, R9
	ORQ R9, R8
	MOVQ R8, (R10)
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
	ADDQ $8, R10
	DECQ CX
	JNZ loop

done:
	VPMOVMSKB Y7, AX
	VZEROUPPER
	MOVL AX, ret+32(FP)
	RET
