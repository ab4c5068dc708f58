//go:build !linux

package main

// releaseExecutablePages is for Linux's large-folio mappings of the
// executable (see text_linux.go).
func releaseExecutablePages() int { return 0 }
