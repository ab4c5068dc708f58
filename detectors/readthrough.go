package detectors

import "time"

// ReadThrough implements sources.ReadThrougher: the sink's input has been
// read up to log time t, so it publishes t as it would an event's time.
// The reader's sequencer calls it: it delivers only long-running requests,
// behind the workers, and a sink that got no event yet would otherwise not
// hold the windows open for the events it still has to deliver.
func (s *Sink) ReadThrough(t time.Time) {
	e := s.e
	if !e.windowed || !e.opts.Streaming {
		return
	}
	if t.IsZero() {
		// Nothing read yet: hold every window until told more (a sink
		// that never published is otherwise left out of the horizon).
		s.published.CompareAndSwap(0, 1)
		return
	}
	if n := t.UnixNano(); n > s.hi {
		s.hi = n
	}
	if s.published.Load() == 0 || s.hi-s.lastCheck > int64(30*time.Second) {
		s.check()
	}
}
