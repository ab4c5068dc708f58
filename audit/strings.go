package audit

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

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

// ExprString is an expression's value as a string: a group_by or --by key,
// a distinct value. nil is "", numbers and bools as Go prints them.
func ExprString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// ExprStringClone is ExprString for a value kept past the event: a string,
// which may be a view into the event, is copied.
func ExprStringClone(v any) string {
	if s, ok := v.(string); ok {
		return strings.Clone(s)
	}
	return ExprString(v)
}

// ProgramName maps a user agent, "kubelet/v1.37.2 (linux/amd64)
// kubernetes/abc", to the client's program name, "kubelet": what people
// group by.
func ProgramName(ua string) string {
	if i := strings.IndexAny(ua, "/ "); i >= 0 {
		return ua[:i]
	}
	return ua
}
