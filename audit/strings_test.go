package audit

import (
	"fmt"
	"testing"
	"time"
)

func TestProgramName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"kubelet/v1.37.2 (linux/amd64) kubernetes/0b0c6a3", "kubelet"},
		{"kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/0b0c6a3/system:serviceaccount:kube-system:generic-garbage-collector", "kube-controller-manager"},
		{"Go-http-client/2.0", "Go-http-client"},
		{"Mozilla/5.0 (X11; Linux x86_64)", "Mozilla"},
		{"kubectl", "kubectl"},
		{"my tool", "my"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ProgramName(tt.in); got != tt.want {
			t.Errorf("ProgramName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestExprString: the fast cases print what fmt prints, and nil is "".
func TestExprString(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, ""}, {"", ""}, {"pods", "pods"}, {0, "0"}, {403, "403"}, {-1, "-1"}, {true, "true"}, {false, "false"},
		{0.25, "0.25"}, {1e21, "1e+21"}, {3.0, "3"}, {int64(7), "7"}, {[]string{"a", "b"}, "[a b]"},
		{time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), "2026-11-24 00:00:00 +0000 UTC"},
	}
	for _, tt := range tests {
		if got := ExprString(tt.in); got != tt.want {
			t.Errorf("ExprString(%#v) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in != nil {
			if got := ExprString(tt.in); got != fmt.Sprint(tt.in) {
				t.Errorf("ExprString(%#v) = %q, fmt prints %q", tt.in, got, fmt.Sprint(tt.in))
			}
		}
	}
}

func TestExprStringClone(t *testing.T) {
	b := []byte("pods")
	view := StringView(b)
	c := ExprStringClone(view)
	b[0] = 'x'
	if view != "xods" || c != "pods" {
		t.Errorf("view %q, clone %q: want the view to follow the bytes and the clone not", view, c)
	}
	if got := ExprStringClone(403); got != "403" {
		t.Errorf("ExprStringClone(403) = %q", got)
	}
}
