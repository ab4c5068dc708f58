package schedule

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/kubectl-audit/kubectl-audit/sources"
	"github.com/kubectl-audit/kubectl-audit/sources/bucket"
	"github.com/kubectl-audit/kubectl-audit/sources/cloudwatch"
	"github.com/kubectl-audit/kubectl-audit/sources/nodes"
)

// HeadSize is how many bytes of a file's decompressed beginning identify
// it: a few events, with their auditIDs and times.
const HeadSize = 4096

// Retention is how long the state remembers a file, object or log it no
// longer sees.
const Retention = 7 * 24 * time.Hour

// MaxStreamLag is how far (in log time) a log may lag behind the others
// and still hold their windows open: a log that stopped (a replaced
// apiserver's) or a node not read for longer lets the others' windows
// close, and its late events are counted as late.
const MaxStreamLag = 15 * time.Minute

// plan is what a run reads: the inputs, each from where the last run
// stopped, and what to remember of them afterwards.
type plan struct {
	now    time.Time
	inputs []sources.Input
	items  []item // aligned with inputs
	// kept are the state's files not read this run (nothing new, or not
	// seen), carried over.
	kept       []FileEntry
	objects    map[string]ObjectEntry
	logStreams map[string]LogStreamEntry
	streams    map[string]time.Time
	// notes say what the plan decided that is worth a line on stderr.
	notes []string
	// unchanged counts inputs with nothing new.
	unchanged int
	read      atomic.Int64
}

type itemKind int

const (
	itemOther itemKind = iota
	itemFile
	itemObject
	itemLogStream
)

type item struct {
	kind   itemKind
	entry  FileEntry // itemFile: the file's identity; Offset is set after reading
	object string    // itemObject: the object's name
	objEnt ObjectEntry
	logSt  *cloudwatch.Object // itemLogStream
	stream string             // sources.StreamOf
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// head is an input's first decompressed bytes and its compression.
type head struct {
	b    []byte
	comp string
}

func readHead(in sources.Input) (head, error) {
	rc, comp, err := sources.OpenInput(in)
	if err != nil {
		return head{}, err
	}
	defer func() { _ = rc.Close() }()
	b := make([]byte, HeadSize)
	n, err := io.ReadFull(rc, b)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return head{}, err
	}
	return head{b: b[:n], comp: comp}, nil
}

func (h head) matches(e FileEntry) bool {
	return e.HeadLen > 0 && e.HeadLen <= len(h.b) && hashOf(h.b[:e.HeadLen]) == e.HeadHash
}

// probe is one file input's identity before reading.
type probe struct {
	in       sources.Input
	node     *nodes.File
	path     string
	dev, ino uint64
	size     int64
	head     head
	err      error
	claim    int // index in st.Files, -1 none
	dup      bool
}

// planInputs decides, input by input, where reading starts: a file is
// found again by its identity (device and inode, or, renamed or compressed
// by rotation, by its first bytes) and read from where the last run
// stopped; a file with nothing new, or an object already read, is left
// out. Files of a rotated set come oldest first, as the caller gave them.
func planInputs(st *State, inputs []sources.Input, now time.Time) (*plan, error) {
	p := &plan{now: now, objects: map[string]ObjectEntry{}, logStreams: map[string]LogStreamEntry{}, streams: map[string]time.Time{}}
	for k, v := range st.Streams {
		if now.Sub(v) < Retention || v.After(now) {
			p.streams[k] = v
		}
	}
	var probes []*probe
	for _, in := range inputs {
		switch o := in.Origin.(type) {
		case nil:
			if in.Name == sources.StdinName {
				return nil, errors.New("--state: standard input cannot be read from where the last run stopped; give files (-f PATH), nodes (--from nodes) or buckets")
			}
			probes = append(probes, probeLocal(in))
		case nodes.File:
			probes = append(probes, probeNode(st, in, o))
		case bucket.Object:
			p.planObject(st, in, o)
		case cloudwatch.Object:
			if e, ok := st.LogStreams[o.Name]; ok && o.From != nil {
				o.From(cloudwatch.Position{Millis: e.Millis, AtLast: e.AtLast})
			}
			p.add(in, item{kind: itemLogStream, logSt: &o, stream: sources.StreamOf(in)})
		default:
			p.add(in, item{kind: itemOther, stream: sources.StreamOf(in)})
		}
	}
	p.claim(st, probes)
	claimed := map[int]bool{}
	for _, pr := range probes {
		if pr.claim >= 0 {
			claimed[pr.claim] = true
		}
	}
	for _, pr := range probes {
		p.planFile(st, pr)
	}
	// An inode that holds other content now (truncated and rewritten)
	// forgets what it held.
	inUse := map[[2]uint64]bool{}
	for _, pr := range probes {
		if pr.node == nil && pr.ino != 0 {
			inUse[[2]uint64{pr.dev, pr.ino}] = true
		}
	}
	for i, e := range st.Files {
		reused := e.Node == "" && inUse[[2]uint64{e.Dev, e.Ino}]
		if !claimed[i] && !reused && now.Sub(e.Seen) < Retention {
			p.kept = append(p.kept, e)
		}
	}
	for name, o := range st.Objects {
		if _, ok := p.objects[name]; !ok && now.Sub(o.Seen) < Retention {
			p.objects[name] = o
		}
	}
	for name, e := range st.LogStreams {
		if now.Sub(e.Seen) < Retention {
			p.logStreams[name] = e
		}
	}
	return p, nil
}

func (p *plan) add(in sources.Input, it item) {
	p.inputs = append(p.inputs, p.counted(in))
	p.items = append(p.items, it)
}

// counted counts the bytes read, for the "read" pause point.
func (p *plan) counted(in sources.Input) sources.Input {
	limit := pause.readBytes()
	if limit <= 0 {
		return in
	}
	open := in.Open
	in.Open = func() (io.ReadCloser, error) {
		rc, err := open()
		if err != nil {
			return nil, err
		}
		return &countingReader{ReadCloser: rc, total: &p.read, limit: limit}, nil
	}
	return in
}

type countingReader struct {
	io.ReadCloser
	total *atomic.Int64
	limit int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	if c.total.Add(int64(n)) >= c.limit && c.total.Load()-int64(n) < c.limit {
		pause.stop(fmt.Sprintf("read:%d", c.limit))
	}
	return n, err
}

func probeLocal(in sources.Input) *probe {
	pr := &probe{in: in, path: in.Name, claim: -1}
	f, err := os.Open(in.Name)
	if err != nil {
		pr.err = err
		return pr
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		pr.err = err
		return pr
	}
	pr.dev, pr.ino = fileID(fi)
	pr.size = fi.Size()
	pr.head, pr.err = readHead(sources.Input{Name: in.Name, Open: func() (io.ReadCloser, error) { return io.NopCloser(f), nil }})
	return pr
}

func probeNode(st *State, in sources.Input, nf nodes.File) *probe {
	pr := &probe{in: in, node: &nf, path: nf.Path, size: nf.Size, claim: -1}
	// A file read to its end before and unchanged (a rotated backup) is
	// not fetched again, not even its first bytes.
	for i, e := range st.Files {
		if e.Node == nf.Node && e.Path == nf.Path && e.Size == nf.Size && nf.Size >= 0 &&
			(e.Compression == sources.CompressionNone && e.Offset == e.Size || e.Compression != sources.CompressionNone && e.Compression != "") {
			pr.claim = i
			pr.head = head{comp: e.Compression}
			return pr
		}
	}
	pr.head, pr.err = readHead(in)
	return pr
}

// claim matches probes to the state's files: the same file (inode, or
// node and path) with the same first bytes first, then the first bytes
// alone (renamed, or compressed, by rotation). A probe whose first bytes
// are those of a file another probe claimed, or of an earlier probe of
// this run, is the same content twice (a backup and its gzip'd copy
// while kube-apiserver compresses it): it is not read.
func (p *plan) claim(st *State, probes []*probe) {
	taken := map[int]bool{}
	for _, pr := range probes {
		if pr.claim >= 0 {
			taken[pr.claim] = true
		}
	}
	same := func(pr *probe, e FileEntry) bool {
		if pr.node != nil {
			return e.Node == pr.node.Node && e.Path == pr.path
		}
		return e.Node == "" && pr.ino != 0 && e.Dev == pr.dev && e.Ino == pr.ino
	}
	local := func(pr *probe, e FileEntry) bool {
		if pr.node != nil {
			return e.Node == pr.node.Node
		}
		return e.Node == ""
	}
	for pass := 0; pass < 2; pass++ {
		for _, pr := range probes {
			if pr.claim >= 0 || pr.err != nil {
				continue
			}
			for i, e := range st.Files {
				if taken[i] || !local(pr, e) || !pr.head.matches(e) || pass == 0 && !same(pr, e) {
					continue
				}
				pr.claim, taken[i] = i, true
				break
			}
		}
	}
	seen := map[string]bool{}
	for _, pr := range probes {
		if pr.err != nil || len(pr.head.b) == 0 {
			continue
		}
		if pr.claim < 0 {
			for i, e := range st.Files {
				if local(pr, e) && pr.head.matches(e) && taken[i] {
					pr.dup = true
				}
			}
		}
		k := hashOf(pr.head.b)
		if pr.claim < 0 && seen[k] {
			pr.dup = true
		}
		seen[k] = true
	}
}

// planFile decides where a file's read starts.
func (p *plan) planFile(st *State, pr *probe) {
	stream := sources.StreamOf(pr.in)
	if pr.err != nil {
		// The reader reports it as unreadable, with the others.
		p.add(pr.in, item{kind: itemOther, stream: stream})
		return
	}
	if pr.dup {
		p.notes = append(p.notes, fmt.Sprintf("%s: the same content as another file read (a rotated backup and its compressed copy?): not read", pr.in.Name))
		return
	}
	e := FileEntry{Path: pr.path, Dev: pr.dev, Ino: pr.ino, Size: pr.size, Compression: pr.head.comp,
		HeadLen: len(pr.head.b), HeadHash: hashOf(pr.head.b), Seen: p.now}
	if pr.node != nil {
		e.Node = pr.node.Node
		e.Dev, e.Ino = 0, 0
	}
	var start int64
	if pr.claim >= 0 {
		old := st.Files[pr.claim]
		start = old.Offset
		if len(pr.head.b) == 0 {
			// Skipped without fetching: the identity is the old one.
			e.HeadLen, e.HeadHash, e.Compression = old.HeadLen, old.HeadHash, old.Compression
		}
		plain := e.Compression == sources.CompressionNone
		switch {
		case plain && pr.size >= 0 && pr.size < start:
			p.notes = append(p.notes, fmt.Sprintf("%s: shorter (%d bytes) than where the last run stopped (%d) with the same beginning: truncated and rewritten? read from its start", pr.in.Name, pr.size, start))
			start = 0
		case plain && pr.size == start, !plain && old.Compression == e.Compression && old.Size == pr.size && pr.size >= 0:
			// Nothing new.
			e.Offset = start
			p.kept = append(p.kept, e)
			p.unchanged++
			return
		}
	}
	in := pr.in
	in.Start = start
	in.Growing = e.Compression == sources.CompressionNone
	if e.Compression == sources.CompressionNone && start > 0 {
		in.Seeked = true
		if pr.node != nil && pr.node.OpenAt != nil {
			openAt := pr.node.OpenAt
			in.Open = func() (io.ReadCloser, error) { return openAt(start) }
		} else if pr.node == nil {
			in.Open = openLocalAt(pr.path, pr.dev, pr.ino, start)
		} else {
			in.Seeked = false
		}
	} else if pr.node == nil {
		in.Open = openLocalAt(pr.path, pr.dev, pr.ino, 0)
	}
	e.Offset = start
	p.add(in, item{kind: itemFile, entry: e, stream: stream})
}

// openLocalAt opens a local file at off, checking it is still the file
// probed (rotation may have replaced it since).
func openLocalAt(path string, dev, ino uint64, off int64) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		if d, i := fileID(fi); ino != 0 && (d != dev || i != ino) {
			_ = f.Close()
			return nil, fmt.Errorf("%s was replaced (rotated) since this run looked at it: the next run reads it", path)
		}
		if off > 0 {
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				_ = f.Close()
				return nil, err
			}
		}
		return f, nil
	}
}

// planObject leaves out a bucket object read before and unchanged, and
// reads one that grew (an append blob) from where the last run stopped.
func (p *plan) planObject(st *State, in sources.Input, o bucket.Object) {
	e := ObjectEntry{Version: o.Version, Size: o.Size, Time: o.Time, Seen: p.now}
	if old, ok := st.Objects[o.Name]; ok {
		if old.Version == o.Version && old.Size == o.Size {
			e.Offset = old.Offset
			p.objects[o.Name] = e
			p.unchanged++
			return
		}
		if o.Size > old.Size && old.Offset > 0 {
			in.Start = old.Offset
		}
	}
	p.add(in, item{kind: itemObject, object: o.Name, objEnt: e, stream: sources.StreamOf(in)})
}

// positions are how far each input was read.
type positions struct {
	files      []FileEntry
	objects    map[string]ObjectEntry
	logStreams map[string]LogStreamEntry
	streams    map[string]time.Time
}

// commit records how far each input was read.
func (p *plan) commit(stats *sources.Stats) positions {
	files := append([]FileEntry(nil), p.kept...)
	for i, it := range p.items {
		var in sources.InputStats
		if stats != nil && i < len(stats.Inputs) {
			in = stats.Inputs[i]
		}
		if !in.Last.IsZero() && in.Last.After(p.streams[it.stream]) {
			p.streams[it.stream] = in.Last
		}
		switch it.kind {
		case itemFile:
			e := it.entry
			if in.End > e.Offset {
				e.Offset = in.End
			}
			if e.Compression == sources.CompressionNone && e.Offset > e.Size {
				e.Size = e.Offset // it grew while being read
			}
			files = append(files, e)
		case itemObject:
			e := it.objEnt
			e.Offset = in.End
			p.objects[it.object] = e
		case itemLogStream:
			if it.logSt.Position == nil {
				continue
			}
			if pos, ok := it.logSt.Position(); ok {
				p.logStreams[it.logSt.Name] = LogStreamEntry{Millis: pos.Millis, AtLast: pos.AtLast, Seen: p.now}
			}
		}
	}
	return positions{files: files, objects: p.objects, logStreams: p.logStreams, streams: p.streams}
}

// through is the log time up to which every log has been read: the
// earliest of the logs' latest event times, leaving out logs that lag more
// than MaxStreamLag behind the latest.
func through(streams map[string]time.Time) time.Time {
	var latest time.Time
	for _, t := range streams {
		if t.After(latest) {
			latest = t
		}
	}
	if latest.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	out := latest
	for _, t := range streams {
		if latest.Sub(t) <= MaxStreamLag && t.Before(out) {
			out = t
		}
	}
	return out
}
