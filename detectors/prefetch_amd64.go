package detectors

import "unsafe"

// prefetch asks the processor to bring p's cache line in, without
// waiting for it.
//
//go:noescape
func prefetch(p unsafe.Pointer)
