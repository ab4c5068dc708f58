package sources

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/kubectl-audit/kubectl-audit/audit"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// ReadOptions configures the reading path.
type ReadOptions struct {
	Inputs []Input
	// Workers is the number of parsing goroutines; 0 means GOMAXPROCS.
	Workers int
	// Since and Until keep events whose requestReceivedTimestamp is in
	// [Since, Until). Zero values do not filter.
	Since, Until time.Time
	// Stages, when set, keeps exactly the events of these stages, without
	// counting requests once.
	Stages []string
	// MaxLineSize is the longest line read; longer lines are skipped and
	// counted. 0 means DefaultMaxLineSize.
	MaxLineSize int
	// ChunkSize is the unit of work handed to a worker. 0 means 1 MiB.
	ChunkSize int
	// Progress, when set, is updated as the read goes (for a progress
	// bar).
	Progress *Progress
	// MaxProblems is how many skipped lines are kept with their position.
	// 0 means 10.
	MaxProblems int
	// OpenRequests are long-running requests an earlier run counted at
	// their ResponseStarted and whose later stages are still to come
	// (Stats.OpenRequests of that run): auditID → requestReceivedTimestamp
	// in Unix ns. Their later stages are not counted again.
	OpenRequests map[string]int64
	// KeepOpen fills Stats.OpenRequests, for a next run (--state): the
	// requests still open are copied out as strings only then.
	KeepOpen bool
	// Eager is audit.Decoder.Eager: the sink asks every event for
	// several annotations and its node (detect).
	Eager bool
}

// DefaultMaxLineSize fits events with RequestResponse bodies, which reach
// megabytes on real clusters.
const DefaultMaxLineSize = 64 << 20

// maxDocumentSize bounds a whole-file JSON document (a pretty-printed
// EventList), which must be held in memory to be parsed.
const maxDocumentSize = 1 << 30

// Problem is one skipped line or damaged input.
type Problem struct {
	File string `json:"file"`
	// Line is 1-based; 0 when the problem is not about one line.
	Line int64 `json:"line,omitempty"`
	// Offset is the byte offset in the decompressed stream.
	Offset int64  `json:"offset"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

func (p Problem) String() string {
	where := p.File
	if p.Line > 0 {
		where += fmt.Sprintf(":%d", p.Line)
	} else {
		where += fmt.Sprintf(" (byte %d)", p.Offset)
	}
	if p.Detail != "" {
		return fmt.Sprintf("%s: %s: %s", where, p.Reason, p.Detail)
	}
	return fmt.Sprintf("%s: %s", where, p.Reason)
}

// InputStats counts one input.
type InputStats struct {
	Name        string `json:"name"`
	Compression string `json:"compression"`
	Bytes       int64  `json:"bytes"`
	Lines       int64  `json:"lines"`
	Events      int64  `json:"events"`
	Skipped     int64  `json:"skipped"`
	// Container is "CRI" for a node's container log (--audit-log-path=-);
	// Stderr counts its stderr records (the apiserver's own log), left out.
	Container string `json:"container,omitempty"`
	Stderr    int64  `json:"stderrRecords,omitempty"`
	// Start is Input.Start; End is the offset in the decompressed stream
	// just after the last whole line delivered (where a later read of the
	// same input resumes); Last is the latest requestReceivedTimestamp of
	// its events (zero when none).
	Start int64     `json:"start,omitempty"`
	End   int64     `json:"end"`
	Last  time.Time `json:"last,omitzero"`
}

// Stats tells what the reading path did with its input.
type Stats struct {
	Inputs []InputStats `json:"inputs"`
	// Bytes is the decompressed size read.
	Bytes int64 `json:"bytes"`
	// Lines counts non-blank lines (a whole-file JSON document counts one).
	Lines int64 `json:"lines"`
	// Events counts audit events decoded (a batch line holds several).
	Events int64 `json:"events"`
	// Used counts events handed to the command, once per request.
	Used int64 `json:"used"`
	// OtherStages counts events dropped because another stage of the same
	// request was used (or RequestReceived, which is never used).
	OtherStages int64 `json:"otherStages"`
	// OutOfRange counts events outside --since/--until.
	OutOfRange int64 `json:"outOfRange"`
	// TimeFrom counts events without a requestReceivedTimestamp by the
	// field their time was taken from (audit.TimeFields).
	TimeFrom map[string]int64 `json:"timeFrom,omitempty"`
	// Warnings are problems that did not stop the read, such as an input
	// with no audit event among inputs that had some.
	Warnings []string `json:"warnings,omitempty"`
	// Skipped counts lines that held no usable event, by reason.
	Skipped  map[string]int64 `json:"skipped,omitempty"`
	Problems []Problem        `json:"problems,omitempty"`
	Elapsed  time.Duration    `json:"-"`
	// OpenRequests are the long-running requests counted at their
	// ResponseStarted whose later stages had not come by the end (see
	// ReadOptions.OpenRequests), with ReadOptions.KeepOpen.
	OpenRequests map[string]int64 `json:"-"`
}

// SkippedTotal is the number of lines and inputs skipped.
func (s *Stats) SkippedTotal() int64 {
	var n int64
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

// Summary is the one-line account printed after every command.
func (s *Stats) Summary() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "read %s (%s) from %s in %s: %s, %d used",
		plural(s.Lines, "line"), HumanBytes(s.Bytes), plural(int64(len(s.Inputs)), "input"), s.Elapsed.Round(time.Millisecond), plural(s.Events, "event"), s.Used)
	if len(s.TimeFrom) > 0 {
		var parts []string
		for _, f := range audit.TimeFields[1:] {
			if n := s.TimeFrom[f]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d by %s", n, f))
			}
		}
		fmt.Fprintf(&b, " (no requestReceivedTimestamp: timed %s)", strings.Join(parts, ", "))
	}
	if s.OtherStages > 0 {
		fmt.Fprintf(&b, ", %d other stages of counted requests", s.OtherStages)
	}
	if s.OutOfRange > 0 {
		fmt.Fprintf(&b, ", %d outside --since/--until", s.OutOfRange)
	}
	var stderr int64
	for _, in := range s.Inputs {
		stderr += in.Stderr
	}
	if stderr > 0 {
		fmt.Fprintf(&b, ", %d stderr records of container logs left out", stderr)
	}
	skipped := s.SkippedTotal()
	fmt.Fprintf(&b, ", %d skipped", skipped)
	if skipped > 0 {
		reasons := make([]string, 0, len(s.Skipped))
		for r := range s.Skipped {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		b.WriteString(" (")
		for i, r := range reasons {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d %s", s.Skipped[r], r)
		}
		b.WriteString(")")
	}
	return b.String()
}

// plural spells n and a noun: "1 line", "2 lines".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// HumanBytes spells a size the way every message of the plugin does:
// 1.5 MiB, 2.00 GiB.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<40:
		return fmt.Sprintf("%.2f TiB", float64(n)/(1<<40))
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// NoEventsError says an input held lines but not one audit event.
type NoEventsError struct {
	Inputs []string
	First  *Problem
}

func (e *NoEventsError) Error() string {
	msg := fmt.Sprintf("%s: no audit events found", joinNames(e.Inputs))
	if e.First != nil {
		msg += fmt.Sprintf(" (first line: %s", e.First.Reason)
		if e.First.Detail != "" {
			msg += ": " + e.First.Detail
		}
		msg += "); expected kube-apiserver audit events (audit.k8s.io/v1, one JSON object per line)"
	}
	return msg
}

func joinNames(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:3], ", "), len(names)-3)
}

// chunk is a run of whole lines from one input.
type chunk struct {
	seq    int64
	t      int64 // log time of its first line, when streams are merged
	input  int
	offset int64 // byte offset of data[0] in the decompressed stream
	line   int64 // 1-based line number of data[0]
	data   []byte
	buf    *[]byte // returned to the pool when done; nil if not pooled
	doc    bool    // data is one whole JSON document, not lines
}

// lrRecord is an event whose counting depends on other stages of the same
// request: the ResponseStarted, ResponseComplete and Panic events of
// long-running requests. The sequencer resolves them in input order.
type lrRecord struct {
	auditID string
	rank    int
	pos     audit.Position
	raw     []byte
	t       int64 // requestReceivedTimestamp, Unix ns
}

type lrBatch struct {
	seq  int64
	recs []lrRecord
	// buf is the chunk's pooled buffer when recs are views into it: the
	// sequencer returns it to the pool once it has resolved them.
	buf *[]byte
	// hi is the latest stageTimestamp of the chunk's events (Unix ns).
	hi int64
}

// ReadThrougher is a sink that learns how far in log time the input has
// been read even when it gets no event: the sequencer delivers only the
// long-running requests, in input order, behind the workers; a sink that
// closes windows as time passes (detect's) must not close one before the
// sequencer has delivered its events.
type ReadThrougher interface {
	// ReadThrough says every event the sink will get from now on comes
	// from input read after log time t; the zero time, before anything is
	// read, says the sink is behind the others until told more.
	ReadThrough(t time.Time)
}

func stageRank(stage string) int {
	switch stage {
	case audit.StageResponseComplete:
		return 3
	case audit.StageResponseStarted:
		return 2
	case audit.StagePanic:
		return 1
	}
	return 0
}

// Read reads every input once, in parallel, and hands each event to a sink.
//
// Counting a request once: unless opts.Stages is set, each auditID is used
// once. Only long-running requests (watch, exec, attach, port-forward,
// proxy, log) log more than one final stage; such a request counts at the
// first of its events the input has, in input order: its ResponseStarted
// (written when it starts, with the code it got), else its
// ResponseComplete (the ResponseStarted is in an earlier file, or the
// policy omits the stage), else its Panic. Any other request counts at its
// ResponseComplete or Panic event, or at ResponseStarted when that is all
// it has (kube-apiserver logs failed authentications, the 401s, with that
// stage alone). RequestReceived events are never used. Long-running
// requests' events pass through the sequencer, which keeps only the
// auditIDs of requests still open, for as long as a request can live
// (MaxRequestLife of log time), so memory does not grow with the input.
func Read(ctx context.Context, opts ReadOptions, newSink func() audit.Sink) (*Stats, error) {
	start := time.Now()
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if opts.MaxLineSize <= 0 {
		opts.MaxLineSize = DefaultMaxLineSize
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 1 << 20
	}
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 10
	}
	var stageSet map[string]bool
	if len(opts.Stages) > 0 {
		stageSet = map[string]bool{}
		for _, s := range opts.Stages {
			stageSet[s] = true
		}
	}

	streams := Streams(opts.Inputs)
	merging := len(streams) > 1 && len(streams) <= MaxMergedStreams
	poolSize := 2*workers + 2
	if merging {
		// Each stream holds up to four buffers (its read buffer, the chunk
		// it is cutting, one in its channel, the merger's head); many
		// streams get smaller buffers so memory stays bounded.
		poolSize += 4 * len(streams)
		if len(streams) > 8 {
			opts.ChunkSize = max(256<<10, opts.ChunkSize*8/len(streams))
		}
	}
	r := &reader{
		opts:    opts,
		chunks:  make(chan *chunk, workers),
		pool:    make(chan *[]byte, poolSize),
		inputs:  make([]InputStats, len(opts.Inputs)),
		streams: streams,
		merging: merging,
		lastT:   make([]int64, len(opts.Inputs)),
	}
	for i := 0; i < cap(r.pool); i++ {
		b := make([]byte, 0, opts.ChunkSize)
		r.pool <- &b
	}
	for i, in := range opts.Inputs {
		r.inputs[i].Name = in.Name
		r.inputs[i].Start, r.inputs[i].End = in.Start, in.Start
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	seqSink := newSink()
	if t, ok := seqSink.(ReadThrougher); ok {
		// Before any worker starts: the sequencer is behind them.
		t.ReadThrough(time.Time{})
	}
	seq := newSequencer(seqSink, opts, stageSet)
	batches := make(chan lrBatch, 4*workers)
	seqDone := make(chan struct{})
	go func() {
		seq.run(batches, r.putBuf)
		close(seqDone)
	}()

	ws := make([]*worker, workers)
	var wg sync.WaitGroup
	for i := range ws {
		w := newWorker(newSink(), opts, stageSet, len(opts.Inputs))
		ws[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range r.chunks {
				recs := w.process(c)
				b := lrBatch{seq: c.seq, recs: recs, hi: w.hi}
				if c.buf != nil && w.views {
					b.buf = c.buf // held until the sequencer is done with the views
				} else if c.buf != nil {
					r.putBuf(c.buf)
				}
				batches <- b
			}
		}()
	}

	readErr := r.run(ctx)
	close(r.chunks)
	wg.Wait()
	close(batches)
	<-seqDone

	st := &Stats{Inputs: r.inputs, Skipped: map[string]int64{}}
	problems := r.problems
	for _, w := range append(ws, &seq.worker) {
		for k, v := range w.timeFrom {
			if st.TimeFrom == nil {
				st.TimeFrom = map[string]int64{}
			}
			st.TimeFrom[k] += v
		}
		st.Events += w.events
		st.Used += w.used
		st.OtherStages += w.otherStages
		st.OutOfRange += w.outOfRange
		for k, v := range w.skipped {
			st.Skipped[k] += v
		}
		for i := range w.perInput {
			st.Inputs[i].Events += w.perInput[i].Events
			st.Inputs[i].Skipped += w.perInput[i].Skipped
			st.Inputs[i].Lines += w.perInput[i].Lines
			if l := w.perInput[i].Last; l.After(st.Inputs[i].Last) {
				st.Inputs[i].Last = l
			}
		}
		problems = append(problems, w.problems...)
	}
	for k, v := range r.skipped {
		st.Skipped[k] += v
	}
	for _, in := range st.Inputs {
		st.Bytes += in.Bytes
		st.Lines += in.Lines
	}
	sortProblems(problems, opts.Inputs)
	if len(problems) > opts.MaxProblems {
		problems = problems[:opts.MaxProblems]
	}
	st.Problems = problems
	st.Warnings = append(st.Warnings, r.warnings...)
	if opts.KeepOpen {
		st.OpenRequests = seq.open.strings()
	}
	st.Elapsed = time.Since(start)
	if readErr != nil {
		return st, readErr
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	return st, noEvents(st)
}

// noEvents fails inputs that were readable, held lines, and yet not one
// audit event: the user pointed us at the wrong file.
func noEvents(st *Stats) error {
	var names []string
	var first *Problem
	for _, in := range st.Inputs {
		if in.Events == 0 && in.Lines > 0 {
			names = append(names, in.Name)
			if first == nil {
				for i := range st.Problems {
					if st.Problems[i].File == in.Name {
						first = &st.Problems[i]
						break
					}
				}
			}
		}
	}
	if len(names) == 0 {
		if st.Events == 0 && st.Skipped[audit.SkipUnreadable] > 0 {
			return fmt.Errorf("no input could be read (%s)", st.Problems[0])
		}
		return nil
	}
	err := &NoEventsError{Inputs: names, First: first}
	if st.Events > 0 {
		// Other inputs had events: say so and go on with them (their lines
		// are counted as skipped, so --strict still fails).
		st.Warnings = append(st.Warnings, err.Error())
		return nil
	}
	return err
}

func sortProblems(ps []Problem, inputs []Input) {
	idx := map[string]int{}
	for i, in := range inputs {
		idx[in.Name] = i
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if idx[a.File] != idx[b.File] {
			return idx[a.File] < idx[b.File]
		}
		return a.Offset < b.Offset
	})
}

// reader turns inputs into chunks of whole lines, in order.
type reader struct {
	opts    ReadOptions
	chunks  chan *chunk
	pool    chan *[]byte
	seq     int64
	inputs  []InputStats
	streams [][]int
	// merging is set when several streams are merged by time: chunks
	// are then cut at most mergeSpan of log time long.
	merging bool
	// lastT is each input's latest chunk time, for chunks without one.
	lastT []int64
	// mu guards problems, skipped and warnings, which stream goroutines
	// share.
	mu       sync.Mutex
	problems []Problem
	skipped  map[string]int64
	warnings []string
}

// mergeSpan bounds the log time one chunk covers when streams are merged,
// so that the merged stream is out of time order by a few seconds at most,
// as one apiserver's own log is.
const mergeSpan = 5 * time.Second

func (r *reader) problem(p Problem) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.skipped == nil {
		r.skipped = map[string]int64{}
	}
	r.skipped[p.Reason]++
	r.problems = append(r.problems, p)
}

func (r *reader) run(ctx context.Context) error {
	if !r.merging {
		for _, i := range r.order() {
			if err := r.readInput(ctx, i, r.send); err != nil {
				return err
			}
		}
		return nil
	}
	return r.merge(ctx)
}

// order is the inputs' reading order without merging: stream by stream.
func (r *reader) order() []int {
	var out []int
	for _, g := range r.streams {
		out = append(out, g...)
	}
	return out
}

// merge reads every stream in its own goroutine and hands the workers the
// chunk that starts earliest in log time among the streams' next ones.
func (r *reader) merge(ctx context.Context) error {
	type head struct {
		ch   chan *chunk
		next *chunk
	}
	heads := make([]*head, len(r.streams))
	errs := make(chan error, len(r.streams))
	for g, inputs := range r.streams {
		h := &head{ch: make(chan *chunk, 1)}
		heads[g] = h
		go func() {
			defer close(h.ch)
			for _, i := range inputs {
				if err := r.readInput(ctx, i, func(c *chunk) { h.ch <- c }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, h := range heads {
		h.next = <-h.ch
	}
	for {
		best := -1
		for g, h := range heads {
			if h.next != nil && (best < 0 || h.next.t < heads[best].next.t) {
				best = g
			}
		}
		if best < 0 {
			break
		}
		h := heads[best]
		r.send(h.next)
		h.next = <-h.ch
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// readInput reads one input to its end, handing chunks to send, and
// counts what it cannot read as problems.
func (r *reader) readInput(ctx context.Context, i int, send func(*chunk)) error {
	in := r.opts.Inputs[i]
	if err := ctx.Err(); err != nil {
		return err
	}
	if p := r.opts.Progress; p != nil {
		defer p.InputsDone.Add(1)
		open := in.Open
		in.Open = func() (io.ReadCloser, error) {
			rc, err := open()
			if err != nil {
				return nil, err
			}
			return countingReader{rc, &p.Bytes}, nil
		}
	}
	rc, comp, err := openDecompressed(in)
	r.inputs[i].Compression = comp
	if err != nil {
		r.problem(Problem{File: in.Name, Reason: audit.SkipUnreadable, Detail: err.Error()})
		return nil
	}
	if in.Start > 0 && !in.Seeked {
		// Resuming a compressed stream: what came before is decompressed
		// again and dropped.
		n, err := io.CopyN(io.Discard, rc, in.Start)
		if err != nil {
			_ = rc.Close()
			r.inputs[i].End = n
			r.mu.Lock()
			r.warnings = append(r.warnings, fmt.Sprintf("%s: ends at byte %d, before byte %d where the last run stopped; nothing read from it", in.Name, n, in.Start))
			r.mu.Unlock()
			return nil
		}
	}
	rc, cri := containerLog(rc, r.opts.MaxLineSize)
	if cri != nil {
		r.inputs[i].Container = "CRI"
	}
	err = r.readStream(ctx, i, rc, send)
	_ = rc.Close()
	if cri != nil {
		r.inputs[i].Stderr = cri.Stderr
		if cri.TooLong > 0 {
			r.mu.Lock()
			if r.skipped == nil {
				r.skipped = map[string]int64{}
			}
			r.skipped[audit.SkipTooLong] += cri.TooLong
			r.mu.Unlock()
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.problem(Problem{File: in.Name, Offset: r.inputs[i].Bytes, Reason: audit.SkipDamaged, Detail: describeStreamErr(err, comp)})
	}
	return nil
}

func describeStreamErr(err error, comp string) string {
	if errors.Is(err, io.ErrUnexpectedEOF) && comp != CompressionNone {
		return fmt.Sprintf("truncated %s stream (%v); events before it were kept", comp, err)
	}
	return err.Error() + "; events before it were kept"
}

func (r *reader) send(c *chunk) {
	c.seq = r.seq
	r.seq++
	r.chunks <- c
}

func (r *reader) getBuf() *[]byte {
	b := <-r.pool
	*b = (*b)[:0]
	return b
}

// putBuf returns a buffer token to the pool. A buffer grown for a long line
// is replaced so the pool's memory stays bounded.
func (r *reader) putBuf(b *[]byte) {
	if cap(*b) > 4*r.opts.ChunkSize {
		*b = make([]byte, 0, r.opts.ChunkSize)
	}
	r.pool <- b
}

// readStream splits one decompressed stream into chunks that end on a line
// boundary. A line longer than MaxLineSize is skipped (and counted) without
// ever being held whole.
func (r *reader) readStream(ctx context.Context, input int, src io.Reader, send func(*chunk)) error {
	st := &r.inputs[input]
	growing := r.opts.Inputs[input].Growing
	offset := st.Start // stream offset of buf[0]
	var line int64 = 1 // line number of buf[0] (counted from Start)
	first := true
	tok := r.getBuf()
	discarding := false // inside a too-long line, dropping bytes up to its newline
	var discardStart, discardLine int64
	for {
		if err := ctx.Err(); err != nil {
			r.putBuf(tok)
			return err
		}
		buf := *tok
		if len(buf) == cap(buf) {
			// No newline in a full buffer: a long line. Grow up to the limit,
			// then drop it.
			if len(buf) >= r.opts.MaxLineSize {
				if !discarding {
					discarding = true
					discardStart, discardLine = offset, line
				}
				offset += int64(len(buf))
				buf = buf[:0]
			} else {
				nb := make([]byte, len(buf), min(2*cap(buf), r.opts.MaxLineSize+r.opts.ChunkSize))
				copy(nb, buf)
				buf = nb
			}
		}
		n, err := fill(src, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		*tok = buf
		st.Bytes += int64(n)
		eof := err != nil
		if discarding {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 && !eof {
				offset += int64(len(buf))
				*tok = buf[:0]
				continue
			}
			if i < 0 {
				i = len(buf) - 1
			}
			offset += int64(i + 1)
			*tok = buf[:copy(buf, buf[i+1:])]
			buf = *tok
			discarding = false
			st.Lines++
			r.tooLong(input, discardStart, discardLine)
			line = discardLine + 1
		}
		if first && len(buf) > 0 {
			if len(buf) < len(utf8BOM) && !eof && bytes.HasPrefix(utf8BOM, buf) {
				continue // perhaps a byte order mark: read on
			}
			first = false
			if offset == 0 && bytes.HasPrefix(buf, utf8BOM) {
				// A UTF-8 byte order mark (Windows editors, some
				// exporters) is no part of the first event.
				offset += int64(len(utf8BOM))
				*tok = buf[:copy(buf, buf[len(utf8BOM):])]
				buf = *tok
			}
			if looksLikeDocument(buf) {
				return r.readDocument(input, offset, src, tok, err, send)
			}
		}
		cut := 0
		damaged := eof && !errors.Is(err, io.EOF)
		if eof && !damaged && !growing {
			cut = len(buf)
		} else if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			// On damage the partial line after the last newline is dropped:
			// it is part of the damage, not a malformed event.
			cut = i + 1
		}
		if cut > 0 {
			st.End = offset + int64(cut)
		}
		if cut > 0 && r.merging {
			// Whole lines, cut by log time into pooled buffers; the
			// rest of this buffer (part of a line) moves to its front.
			data := buf[:cut]
			line = r.sendByTime(input, offset, line, data, send)
			offset += int64(cut)
			*tok = buf[:copy(buf, buf[cut:])]
		} else if cut > 0 {
			next := r.getBuf()
			*next = append(*next, buf[cut:]...)
			data := buf[:cut]
			send(&chunk{input: input, offset: offset, line: line, data: data, buf: tok})
			offset += int64(cut)
			line += int64(bytes.Count(data, []byte{'\n'}))
			tok = next
		}
		if eof {
			r.putBuf(tok)
			if errors.Is(err, io.EOF) {
				return nil
			}
			st.Bytes -= int64(len(buf) - cut) // report the damage where the last whole line ends
			return err
		}
	}
}

// sendByTime hands whole lines (data, at offset and line of its input) on
// as chunks that cover at most mergeSpan of log time and ChunkSize bytes,
// each in a pooled buffer and stamped with its first line's time (t), and
// returns the line number after data.
func (r *reader) sendByTime(input int, offset, line int64, data []byte, send func(*chunk)) int64 {
	for len(data) > 0 {
		t0, end, n := int64(0), 0, int64(0)
		for end < len(data) {
			i := bytes.IndexByte(data[end:], '\n')
			stop := len(data)
			if i >= 0 {
				stop = end + i + 1
			}
			if t, ok := lineTime(data[end:stop]); ok {
				if n == 0 || t0 == 0 {
					t0 = t
				} else if t-t0 > int64(mergeSpan) {
					break
				}
			}
			if end > 0 && stop > r.opts.ChunkSize {
				break
			}
			end = stop
			n++
		}
		if t0 == 0 {
			t0 = r.lastT[input]
		}
		r.lastT[input] = t0
		b := r.getBuf()
		*b = append(*b, data[:end]...)
		send(&chunk{input: input, offset: offset, line: line, data: *b, buf: b, t: t0})
		offset += int64(end)
		line += n
		data = data[end:]
	}
	return line
}

// lineTime is the time a line was written at, for merging streams: its
// stageTimestamp (the apiserver writes events as their stage ends), else
// requestReceivedTimestamp or timestamp, also inside an envelope's
// escaped string. It only has to be good enough to order chunks.
func lineTime(l []byte) (int64, bool) {
	for _, key := range timeKeys {
		i := bytes.Index(l, key)
		if i < 0 {
			continue
		}
		v := l[i+len(key):]
		if len(v) > 40 {
			v = v[:40]
		}
		if j := bytes.IndexByte(v, '"'); j >= 0 {
			v = v[:j]
		}
		v = bytes.TrimSuffix(v, []byte{'\\'})
		if t, ok := audit.ParseTimeBytes(v); ok {
			return t.UnixNano(), true
		}
	}
	return 0, false
}

var timeKeys = [][]byte{
	[]byte(`"stageTimestamp":"`), []byte(`\"stageTimestamp\":\"`),
	[]byte(`"requestReceivedTimestamp":"`), []byte(`\"requestReceivedTimestamp\":\"`),
	[]byte(`"timestamp":"`),
}

// fill reads until b is full or the stream ends; io.EOF means a clean end,
// any other error (a truncated gzip stream) is damage.
func fill(src io.Reader, b []byte) (int, error) {
	n, zero := 0, 0
	for n < len(b) {
		m, err := src.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			if zero++; zero > 100 {
				return n, io.ErrNoProgress
			}
		}
	}
	return n, nil
}

func (r *reader) tooLong(input int, offset, line int64) {
	p := Problem{File: r.opts.Inputs[input].Name, Line: line, Offset: offset, Reason: audit.SkipTooLong,
		Detail: fmt.Sprintf("longer than %s (raise --max-line-size)", HumanBytes(int64(r.opts.MaxLineSize)))}
	r.problem(p)
	r.inputs[input].Skipped++
}

// looksLikeDocument reports a pretty-printed JSON document (an EventList
// saved from the webhook backend, or a JSON array of events) rather than
// JSON lines.
func looksLikeDocument(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return false
	}
	if b[0] == '[' {
		return true
	}
	firstLine := b
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		firstLine = b[:i]
	}
	return string(bytes.TrimSpace(firstLine)) == "{"
}

// utf8BOM is the byte order mark some tools write before UTF-8 text.
var utf8BOM = []byte("\xef\xbb\xbf")

// readDocument reads the rest of a document that starts at offset.
func (r *reader) readDocument(input int, offset int64, src io.Reader, tok *[]byte, readErr error, send func(*chunk)) error {
	st := &r.inputs[input]
	doc := append([]byte(nil), *tok...)
	r.putBuf(tok)
	if readErr == nil {
		rest, err := io.ReadAll(io.LimitReader(src, maxDocumentSize-int64(len(doc))+1))
		st.Bytes += int64(len(rest))
		doc = append(doc, rest...)
		readErr = err
		if int64(len(doc)) > maxDocumentSize {
			r.problem(Problem{File: r.opts.Inputs[input].Name, Reason: audit.SkipTooLong,
				Detail: fmt.Sprintf("JSON document larger than %s", HumanBytes(maxDocumentSize))})
			return nil
		}
	}
	st.End = offset + int64(len(doc))
	send(&chunk{input: input, offset: offset, line: 1, data: doc, doc: true})
	if readErr != nil && !errors.Is(readErr, io.EOF) {
		return readErr
	}
	return nil
}

// worker decodes chunks and feeds its sink.
type worker struct {
	sink        audit.Sink
	dec         audit.Decoder
	opts        ReadOptions
	stageSet    map[string]bool
	events      int64
	used        int64
	otherStages int64
	outOfRange  int64
	timeFrom    map[string]int64
	skipped     map[string]int64
	perInput    []InputStats
	problems    []Problem
	recs        []lrRecord
	views       bool
	cur         *chunk
	// hi is the latest stageTimestamp of the chunk being processed.
	hi int64
}

func newWorker(sink audit.Sink, opts ReadOptions, stageSet map[string]bool, inputs int) *worker {
	w := &worker{sink: sink, opts: opts, stageSet: stageSet, skipped: map[string]int64{}, perInput: make([]InputStats, inputs)}
	w.dec.Emit = w.route
	w.dec.Eager = opts.Eager
	return w
}

// process decodes one chunk and returns the events held for the sequencer;
// w.views says whether some of them are views into c.data.
func (w *worker) process(c *chunk) []lrRecord {
	w.cur = c
	w.recs = nil
	w.views = false
	w.hi = 0
	if p := w.opts.Progress; p != nil {
		defer func(before int64) { p.Events.Add(w.events - before) }(w.events)
	}
	name := w.opts.Inputs[c.input].Name
	if c.doc {
		// A document's lines are its physical lines, as a user counts them.
		docLines := int64(bytes.Count(bytes.TrimRight(c.data, "\r\n"), []byte{'\n'})) + 1
		_, derr := w.dec.Decode(c.data, audit.Position{File: name, Input: c.input})
		if derr == nil {
			w.perInput[c.input].Lines += docLines
			return w.recs
		}
		if derr.Reason != audit.SkipMalformed {
			w.perInput[c.input].Lines += docLines
			w.skip(c.input, Problem{File: name, Line: 1, Reason: derr.Reason, Detail: derr.Detail})
			return w.recs
		}
		if vals, cut := splitValues(c.data); len(vals) > 1 || len(vals) == 1 && cut >= 0 {
			// Pretty-printed events one after the other (jq's output):
			// each is an event, and a bad one is named by its first line.
			w.perInput[c.input].Lines += docLines
			line := int64(1)
			prev := 0
			at := func(start int) (int64, int64) {
				line += int64(bytes.Count(c.data[prev:start], []byte{'\n'}))
				prev = start
				return line, c.offset + int64(start)
			}
			for _, v := range vals {
				line, off := at(v[0])
				if _, derr := w.dec.Decode(c.data[v[0]:v[1]], audit.Position{File: name, Offset: off, Input: c.input}); derr != nil {
					w.skip(c.input, Problem{File: name, Line: line, Offset: off, Reason: derr.Reason, Detail: derr.Detail})
				}
			}
			if cut >= 0 {
				line, off := at(cut)
				w.skip(c.input, Problem{File: name, Line: line, Offset: off, Reason: audit.SkipMalformed, Detail: "a JSON object that does not end (the input was cut?)"})
			}
			return w.recs
		}
		// Not one document after all: read it as lines.
	}
	data := c.data
	off := c.offset
	line := c.line
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var l []byte
		if i < 0 {
			l, data = data, nil
		} else {
			l, data = data[:i], data[i+1:]
		}
		lineOff := off
		off += int64(len(l)) + 1
		lineNo := line
		line++
		if c.offset > 0 && w.opts.Inputs[c.input].Start > 0 {
			lineNo = 0 // counted from a checkpoint: the byte offset says where
		}
		if len(l) > 0 && l[len(l)-1] == '\r' {
			l = l[:len(l)-1]
		}
		if isBlank(l) {
			continue
		}
		w.perInput[c.input].Lines++
		_, derr := w.dec.Decode(l, audit.Position{File: name, Offset: lineOff, Input: c.input})
		if derr != nil {
			w.skip(c.input, Problem{File: name, Line: lineNo, Offset: lineOff, Reason: derr.Reason, Detail: derr.Detail})
		}
	}
	return w.recs
}

// splitValues finds the JSON objects of b, written one after the other
// with only white space between them, as [start, end) offsets, and where
// a last object that does not end starts (cut; -1 when none). It returns
// no objects when b is anything else: then its lines are read one by one.
func splitValues(b []byte) (vals [][2]int, cut int) {
	var out [][2]int
	i := 0
	for {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
			i++
		}
		if i == len(b) {
			return out, -1
		}
		if b[i] != '{' {
			return nil, -1
		}
		start, depth, inStr := i, 0, false
		for ; i < len(b); i++ {
			c := b[i]
			if inStr {
				switch c {
				case '\\':
					i++
				case '"':
					inStr = false
				}
				continue
			}
			switch c {
			case '"':
				inStr = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if i == len(b) {
			return out, start
		}
		i++
		out = append(out, [2]int{start, i})
	}
}

// within reports whether b lies in the memory of in (up to its capacity).
func within(b, in []byte) bool {
	if len(b) == 0 || cap(in) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(in)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(cap(in))
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

func (w *worker) skip(input int, p Problem) {
	w.skipped[p.Reason]++
	w.perInput[input].Skipped++
	// Keep only the earliest problems: workers see chunks out of order, so
	// keep a sorted, bounded list and merge at the end.
	if len(w.problems) < w.opts.MaxProblems {
		w.problems = append(w.problems, p)
		return
	}
}

// route decides what happens to a decoded event.
func (w *worker) route(e *audit.Event) {
	w.events++
	pi := &w.perInput[w.cur.input]
	pi.Events++
	if e.Received.After(pi.Last) {
		pi.Last = e.Received
	}
	if !e.StageTime.IsZero() {
		w.hi = max(w.hi, e.StageTime.UnixNano())
	}
	if f := e.TimeFrom(); f != audit.TimeFields[0] {
		if w.timeFrom == nil {
			w.timeFrom = map[string]int64{}
		}
		w.timeFrom[f]++
	}
	if w.stageSet != nil {
		if !w.stageSet[e.Stage] {
			w.otherStages++
			return
		}
		w.deliver(e)
		return
	}
	switch e.Stage {
	case audit.StageResponseComplete, audit.StagePanic, audit.StageResponseStarted:
		// Only long-running requests log more than one of these stages.
		// A ResponseStarted of any other request is final: kube-apiserver
		// logs failed authentications (401) with that stage alone.
		if !e.LongRunning() {
			w.deliver(e)
			return
		}
	default:
		w.otherStages++
		return
	}
	// The event's JSON is a view into the chunk when it is a line of it
	// (the chunk's buffer then waits for the sequencer), a copy otherwise
	// (an element of a batch, re-serialized into the decoder's buffer).
	raw := e.RawJSON()
	if within(raw, w.cur.data) {
		w.views = true
	} else {
		raw = bytes.Clone(raw)
	}
	w.recs = append(w.recs, lrRecord{
		auditID: strings.Clone(e.AuditID),
		rank:    stageRank(e.Stage),
		pos:     e.Source,
		raw:     raw,
		t:       e.Received.UnixNano(),
	})
}

func (w *worker) deliver(e *audit.Event) {
	if !w.opts.Since.IsZero() && e.Received.Before(w.opts.Since) ||
		!w.opts.Until.IsZero() && !e.Received.Before(w.opts.Until) {
		w.outOfRange++
		return
	}
	w.used++
	w.sink.Event(e)
}

// sequencer resolves the stages of long-running requests in input order,
// whatever order the workers finish their chunks in.
type sequencer struct {
	worker
	// ev is the view records are re-read into, by rs.
	ev      audit.Event
	rs      audit.Rescanner
	next    int64
	waiting map[int64]lrBatch
	// open holds the requests counted at ResponseStarted whose
	// ResponseComplete has not come yet: auditID -> received time.
	open *requestTimes
	// recent remembers requests counted at ResponseComplete or Panic, in
	// case their ResponseStarted comes after (webhook batches can
	// reorder); bounded so memory stays flat.
	recent     map[string]struct{}
	recentRing []string
	recentNext int
	// hi is the latest received time seen; expired is when open was last
	// pruned of requests older than MaxRequestLife.
	hi, expired int64
}

// MaxRequestLife is how long a long-running request is remembered after it
// started, in log time, for its later stages to be recognised: longer than
// kube-apiserver's longest watch (twice --min-request-timeout, 1h by
// default) with room for exec and port-forward sessions.
const MaxRequestLife = 6 * time.Hour

const recentCompleted = 1 << 16

func newSequencer(sink audit.Sink, opts ReadOptions, stageSet map[string]bool) *sequencer {
	s := &sequencer{
		worker:  *newWorker(sink, opts, stageSet, len(opts.Inputs)),
		waiting: map[int64]lrBatch{},
		open:    newRequestTimes(),
		recent:  map[string]struct{}{},
	}
	s.rs.Eager = opts.Eager
	for id, t := range opts.OpenRequests {
		s.open.put(keyOf(id), t)
		s.hi = max(s.hi, t)
	}
	return s
}

// run resolves the batches in input order, and gives each batch's buffer
// back (release) once resolved.
func (s *sequencer) run(batches <-chan lrBatch, release func(*[]byte)) {
	through, _ := s.sink.(ReadThrougher)
	var hi int64
	for b := range batches {
		s.waiting[b.seq] = b
		for {
			next, ok := s.waiting[s.next]
			if !ok {
				break
			}
			delete(s.waiting, s.next)
			s.next++
			for _, rec := range next.recs {
				s.resolve(rec)
			}
			if next.buf != nil {
				release(next.buf)
			}
			if through != nil && next.hi > hi {
				hi = next.hi
				through.ReadThrough(time.Unix(0, hi))
			}
		}
	}
}

// resolve counts a long-running request at the first of its events, and
// drops the others.
func (s *sequencer) resolve(rec lrRecord) {
	if rec.t > s.hi {
		s.hi = rec.t
	}
	key := keyOf(rec.auditID)
	if _, ok := s.open.get(key); ok {
		s.otherStages++
		if rec.rank != 2 { // ResponseComplete or Panic: the request is over
			s.open.del(key)
		}
		return
	}
	if _, done := s.recent[rec.auditID]; done {
		s.otherStages++
		return
	}
	s.emit(rec)
	if rec.rank == 2 {
		s.open.put(key, rec.t)
		s.expire()
	} else {
		s.remember(rec.auditID)
	}
}

// expire forgets open requests that started more than MaxRequestLife
// before the latest one, at most once a minute of log time.
func (s *sequencer) expire() {
	if s.hi-s.expired < int64(time.Minute) || s.open.len() < 1024 {
		return
	}
	s.expired = s.hi
	limit := s.hi - int64(MaxRequestLife)
	s.open.deleteBefore(limit)
}

func (s *sequencer) remember(id string) {
	if len(s.recentRing) < recentCompleted {
		s.recentRing = append(s.recentRing, id)
	} else {
		delete(s.recent, s.recentRing[s.recentNext])
		s.recentRing[s.recentNext] = id
		s.recentNext = (s.recentNext + 1) % recentCompleted
	}
	s.recent[id] = struct{}{}
}

// emit re-decodes a record's event and delivers it.
func (s *sequencer) emit(rec lrRecord) {
	if s.rs.Scan(&s.ev, rec.raw) {
		s.ev.Source = rec.pos
		s.deliver(&s.ev)
	}
}
