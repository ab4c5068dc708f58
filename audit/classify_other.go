//go:build !amd64

package audit

const haveClassify = false

func classifyAsm(b []byte, _ []uint64) (bm, hb []uint64, high bool) { return classifyGo(b) }
