package cmd

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// The process's soft heap limit, decided here for every command. The
// reading path lives in a few tens of MB whatever the input size, and a
// limit keeps the footprint flat instead of letting the heap double
// between collections. But a limit below what a command really holds (detect's
// open windows on a large cluster's log) makes the collector run back to
// back, several times slower for nothing; so while a command reads, the
// limit follows the live heap: never below baseMemoryLimit, and at least
// liveHeadroom times what the last collection found live (detect's groups
// hold no pointers, so a collection costs little and 1.5 is enough). GOMEMLIMIT, when
// set, is the user's choice and is left alone.
const (
	baseMemoryLimit = 100 << 20
	liveHeadroom    = 1.5
)

// governMemory starts following the live heap and returns the function
// that stops it.
func governMemory() (stop func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	debug.SetMemoryLimit(baseMemoryLimit)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return
			}
			limit := max(int64(baseMemoryLimit), int64(liveHeadroom*float64(sample[0].Value.Uint64())))
			debug.SetMemoryLimit(limit)
		}
	}()
	return func() { close(done); wg.Wait() }
}
