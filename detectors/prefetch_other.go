//go:build !amd64

package detectors

import "unsafe"

// prefetch is a no-op where there is no prefetch instruction wired up.
func prefetch(p unsafe.Pointer) {}
