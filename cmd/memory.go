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
// between collections. But a limit below what a command really holds
// (detect's open windows on a large cluster's log) makes the collector run
// back to back, several times slower for nothing; so while a command
// reads, the limit follows the live heap (heapLimit). GOMEMLIMIT, when
// set, is the user's choice and is left alone.
const (
	baseMemoryLimit = 100 << 20
	minHeadroom     = 30 << 20
)

// heapLimit is the limit for a heap of live bytes after a collection: at
// least baseMemoryLimit, else live plus a quarter of it, and never less
// than minHeadroom above it. So the collector runs after every 30 MB or
// quarter of the heap allocated: often enough to keep a 10 GB detect at
// ~147 MB (with half the heap as room, as before, it peaked at ~160),
// seldom enough that a big heap (many open groups) is not marked back to
// back. detect's groups hold no pointers, so a collection costs little;
// 10 GB takes 5-10% longer than with half the heap as room.
func heapLimit(live int64) int64 {
	return max(baseMemoryLimit, live+max(minHeadroom, live/4))
}

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
			debug.SetMemoryLimit(heapLimit(int64(sample[0].Value.Uint64())))
		}
	}()
	return func() { close(done); wg.Wait() }
}
