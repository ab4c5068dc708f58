package audit

import "unsafe"

// StringView views b as a string without copying. The caller promises that
// b does not change while the string is in use: bytes a parser owns until
// it parses again (the lifetime of Event strings), or an arena until it is
// reset.
func StringView(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
