package cmd

import "testing"

// TestHeapLimit: the limit is the base for small heaps, then the live
// heap plus 30 MB, then plus a quarter of it.
func TestHeapLimit(t *testing.T) {
	const mb = 1 << 20
	tests := []struct{ live, want int64 }{
		{0, 100 * mb},
		{40 * mb, 100 * mb},
		{70 * mb, 100 * mb},
		{80 * mb, 110 * mb},
		{120 * mb, 150 * mb},
		{400 * mb, 500 * mb},
	}
	for _, tt := range tests {
		if got := heapLimit(tt.live); got != tt.want {
			t.Errorf("heapLimit(%d MB) = %.2f MB, want %.2f MB", tt.live/mb, float64(got)/mb, float64(tt.want)/mb)
		}
	}
}
