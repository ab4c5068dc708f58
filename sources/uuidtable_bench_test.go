package sources

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkUUIDTable is the sequencer's use: a steady churn of 250 k open
// requests, each put, looked up once and deleted.
func BenchmarkUUIDTable(b *testing.B) {
	const live = 250_000
	ring := make([][16]byte, live)
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([][16]byte, 1<<20)
	for i := range keys {
		for j := range keys[i] {
			keys[i][j] = byte(r.Uint32())
		}
	}
	var u uuidTable
	b.ResetTimer()
	for i := range b.N {
		k := keys[i&(len(keys)-1)]
		if i >= live {
			old := ring[i%live]
			u.get(old)
			u.del(old)
		}
		u.put(k, int64(i))
		ring[i%live] = k
	}
}
