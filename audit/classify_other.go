//go:build !amd64

package audit

const haveClassify = false

func classifyAsm(b []byte, bits []uint64) ([]uint64, bool) { return classifyGo(b, bits) }
