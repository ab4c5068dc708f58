package bucket

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fastjson"
)

// The audit reader decodes JSON lines (plain events, EventList batches,
// CloudWatch export JSON, AKS records with properties.log, GKE LogEntries),
// gzip and zstd. Two envelopes it does not know are unwrapped here into
// one audit event per line, as streams:
//   - EKS through a CloudWatch Logs subscription and Firehose: gzip'd
//     CloudWatch Logs records ({"messageType":"DATA_MESSAGE","logEvents":
//     [{"message":"<event>"}…]}) concatenated with no separator (or with
//     newlines, or decompressed by Firehose; with message extraction the
//     bare messages concatenated). CONTROL_MESSAGE records are dropped.
//   - EKS through a CloudWatch Logs export task: "<RFC 3339 time> <event>"
//     lines.
//
// Azure's legacy PT1H.json format (before November 2018: one
// {"records":[…]} document) is streamed record by record the same way.
// Anything else is returned as stored.

const (
	kindLines   = iota // JSON lines: the reader's own business
	kindExport         // export-task lines with a time prefix
	kindRecords        // concatenated JSON values and CloudWatch Logs records
)

var (
	exportLine = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z[ \t]`)
	recordsDoc = regexp.MustCompile(`^\{\s*"records"\s*:\s*\[`)
	// The first key of a CloudWatch Logs record, whatever the order.
	cwlRecordStart = regexp.MustCompile(`^\{\s*"(?:messageType|owner|logGroup|logStream|subscriptionFilters|logEvents)"\s*:`)
	bom            = []byte{0xef, 0xbb, 0xbf}
)

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var first error
	for i := len(m) - 1; i >= 0; i-- {
		if err := m[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

type zstdCloser struct{ d *zstd.Decoder }

func (z zstdCloser) Close() error { z.d.Close(); return nil }

// decompress peels up to three compression layers (Firehose may gzip
// records CloudWatch Logs gzip'd already).
func decompress(r io.Reader) (io.Reader, []string, multiCloser, error) {
	var layers []string
	var closers multiCloser
	cur := r
	for len(layers) < 3 {
		br := bufio.NewReaderSize(cur, 64<<10)
		magic, err := br.Peek(4)
		if len(magic) == 0 && err != nil && !errors.Is(err, io.EOF) {
			return nil, layers, closers, err
		}
		switch {
		case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
			zr, err := gzip.NewReader(br)
			if err != nil {
				return nil, layers, closers, err
			}
			closers = append(closers, zr)
			cur = zr
			layers = append(layers, "gzip")
		case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
			if err != nil {
				return nil, layers, closers, err
			}
			closers = append(closers, zstdCloser{zr})
			cur = zr
			layers = append(layers, "zstd")
		default:
			return br, layers, closers, nil
		}
	}
	return cur, layers, closers, nil
}

// unwrap opens a downloaded (or downloading) object as audit lines, in
// one pass: its head is decompressed aside to tell the envelope, then the
// stream is returned as stored or unwrapped.
func (s *Source) unwrap(e entry, j *job) (io.ReadCloser, error) {
	name := s.base + e.key
	raw, err := j.reader()
	if err != nil {
		return nil, err
	}
	rb := bufio.NewReaderSize(raw, sniffSize)
	head, err := rb.Peek(sniffSize)
	if len(head) == 0 && err != nil && !errors.Is(err, io.EOF) {
		_ = raw.Close()
		return nil, s.streamErr(name, nil, err)
	}
	var peek []byte
	var layers []string
	if out, l, closers, err := decompress(bytes.NewReader(head)); err == nil {
		peek, _ = io.ReadAll(io.LimitReader(out, sniffSize)) // a cut head ends early: enough
		layers = l
		_ = closers.Close()
	}
	hasBOM := bytes.HasPrefix(peek, bom)
	kind := sniff(bytes.TrimPrefix(peek, bom))
	if kind == kindLines && len(layers) <= 1 && !hasBOM {
		// As stored: the reader decompresses it and reports its damage.
		return &passThrough{Reader: rb, Closer: raw}, nil
	}
	out, layers, closers, err := decompress(rb)
	closers = append(multiCloser{raw}, closers...)
	if err != nil {
		_ = closers.Close()
		return nil, s.streamErr(name, layers, err)
	}
	br := bufio.NewReaderSize(out, 256<<10)
	if hasBOM {
		_, _ = br.Discard(len(bom))
	}
	switch kind {
	case kindExport:
		return &exportLines{s: s, name: name, layers: layers, br: br, atStart: true, closer: closers}, nil
	case kindRecords:
		return &records{s: s, name: name, layers: layers, br: br, closer: closers}, nil
	}
	return &plain{s: s, name: name, layers: layers, r: br, closer: closers}, nil
}

type passThrough struct {
	io.Reader
	io.Closer
}

// streamErr names the object in a stream error; a stream that ends early
// is a truncated object.
func (s *Source) streamErr(name string, layers []string, err error) error {
	if err == nil || errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	var done *Error
	if errors.As(err, &done) {
		return err
	}
	comp := "stream"
	if len(layers) > 0 {
		comp = layers[len(layers)-1] + " stream"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Kind: ErrTruncated, Where: name, What: "truncated " + comp,
			Hint: "the object ends in the middle of its data; events before the damage were kept", Err: err}
	}
	return fmt.Errorf("%s: damaged %s: %w", name, comp, err)
}

// sniffSize is how much of an object's start sniff sees: a Firehose record
// is at most 1000 KiB.
const sniffSize = 1 << 20

// sniff tells the envelope from the first decompressed bytes.
func sniff(p []byte) int {
	p = bytes.TrimLeft(p, " \t\r\n")
	if exportLine.Match(p[:min(len(p), 40)]) {
		return kindExport
	}
	if len(p) == 0 || p[0] != '{' {
		return kindLines
	}
	if recordsDoc.Match(p[:min(len(p), 64)]) {
		return kindRecords
	}
	end := valueEnd(p)
	if end < 0 {
		if cwlRecordStart.Match(p[:min(len(p), 64)]) {
			return kindRecords
		}
		return kindLines // one long line (or a pretty document): the reader copes
	}
	var fp fastjson.Parser
	if v, err := fp.ParseBytes(p[:end]); err == nil && v.Exists("messageType") && v.Exists("logEvents") {
		return kindRecords
	}
	rest := bytes.TrimLeft(p[end:], " \t\r")
	if len(rest) > 0 && rest[0] == '{' {
		return kindRecords // values concatenated without a newline
	}
	return kindLines
}

// valueEnd returns the length of the JSON object or array p starts with,
// or -1 when it does not end within p.
func valueEnd(p []byte) int {
	depth, inStr, esc := 0, false, false
	for i, c := range p {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// plain passes decompressed bytes through, naming the object in errors.
type plain struct {
	s      *Source
	name   string
	layers []string
	r      io.Reader
	closer io.Closer
}

func (p *plain) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	return n, p.s.streamErr(p.name, p.layers, err)
}

func (p *plain) Close() error { return p.closer.Close() }

// exportLines strips the time CloudWatch Logs' export task puts before
// each message, streaming lines of any length.
type exportLines struct {
	s       *Source
	name    string
	layers  []string
	br      *bufio.Reader
	atStart bool
	closer  io.Closer
}

func (r *exportLines) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if r.atStart {
			p, _ := r.br.Peek(40)
			if loc := exportLine.FindIndex(p); loc != nil {
				_, _ = r.br.Discard(loc[1])
			}
			r.atStart = false
		}
		if _, err := r.br.Peek(1); err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, r.s.streamErr(r.name, r.layers, err)
		}
		chunk, _ := r.br.Peek(min(r.br.Buffered(), len(b)-n))
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk = chunk[:i+1]
			r.atStart = true
		}
		n += copy(b[n:], chunk)
		_, _ = r.br.Discard(len(chunk))
	}
	return n, nil
}

func (r *exportLines) Close() error { return r.closer.Close() }

// records streams concatenated JSON values: CloudWatch Logs records become
// their log events' messages, one per line; other values one line each.
type records struct {
	s      *Source
	name   string
	layers []string
	br     *bufio.Reader
	closer io.Closer
	out    []byte
	pos    int
	val    []byte
	p      fastjson.Parser
	err    error
	inDoc  bool // inside Azure's legacy {"records":[…]}
}

func (r *records) Read(b []byte) (int, error) {
	for r.pos >= len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		r.out, r.pos = r.out[:0], 0
		if err := r.next(); err != nil {
			r.err = r.s.streamErr(r.name, r.layers, err)
		}
	}
	n := copy(b, r.out[r.pos:])
	r.pos += n
	return n, nil
}

func (r *records) Close() error { return r.closer.Close() }

func (r *records) skipSpace(commas bool) (byte, error) {
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case ',':
			if commas {
				continue
			}
		}
		return c, nil
	}
}

// next appends the lines of the next value to r.out.
func (r *records) next() error {
	c, err := r.skipSpace(r.inDoc)
	if err != nil {
		return err
	}
	if r.inDoc && c == ']' {
		r.inDoc = false
		// The rest of the legacy document's object, usually just "}".
		r.val = r.val[:0]
		return r.readValue(1)
	}
	if !r.inDoc && c == '{' {
		if p, _ := r.br.Peek(64); recordsDoc.Match(append([]byte{'{'}, p...)) {
			loc := recordsDoc.FindIndex(append([]byte{'{'}, p...))
			_, _ = r.br.Discard(loc[1] - 1)
			r.inDoc = true
			return nil
		}
	}
	if c != '{' && c != '[' {
		// Not JSON: pass the line on for the reader to report.
		line, err := r.br.ReadSlice('\n')
		r.out = append(append(r.out, c), line...)
		if len(r.out) == 0 || r.out[len(r.out)-1] != '\n' {
			r.out = append(r.out, '\n')
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
		}
		return err
	}
	r.val = append(r.val[:0], c)
	if err := r.readValue(1); err != nil {
		return err
	}
	r.emit(r.val)
	return nil
}

// readValue reads up to the end of the value whose first depth openings
// are already in r.val, scanning the buffered bytes in place.
func (r *records) readValue(depth int) error {
	inStr, esc := false, false
	for {
		if _, err := r.br.Peek(1); err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		for i, c := range buf {
			switch {
			case inStr:
				switch {
				case esc:
					esc = false
				case c == '\\':
					esc = true
				case c == '"':
					inStr = false
				}
			case c == '"':
				inStr = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth == 0 {
					r.val = append(r.val, buf[:i+1]...)
					_, _ = r.br.Discard(i + 1)
					return nil
				}
			}
		}
		r.val = append(r.val, buf...)
		_, _ = r.br.Discard(len(buf))
		if len(r.val) > r.s.opts.MaxRecord {
			return fmt.Errorf("a JSON record longer than %s", humanBytes(int64(r.s.opts.MaxRecord)))
		}
	}
}

func (r *records) emit(v []byte) {
	pv, err := r.p.ParseBytes(v)
	if err == nil && pv.Type() == fastjson.TypeObject && pv.Exists("messageType") {
		switch string(pv.GetStringBytes("messageType")) {
		case "CONTROL_MESSAGE":
			r.s.c.control.Add(1)
			return
		case "DATA_MESSAGE":
			r.s.c.records.Add(1)
			for _, ev := range pv.GetArray("logEvents") {
				m := ev.GetStringBytes("message")
				if len(m) == 0 {
					continue
				}
				r.out = append(r.out, bytes.TrimRight(m, "\r\n")...)
				r.out = append(r.out, '\n')
				r.s.c.unwrapped.Add(1)
			}
			return
		}
	}
	if bytes.ContainsAny(v, "\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, v) == nil {
			v = buf.Bytes()
		} else {
			v = bytes.ReplaceAll(bytes.ReplaceAll(v, []byte{'\r'}, []byte{' '}), []byte{'\n'}, []byte{' '})
		}
	}
	r.out = append(append(r.out, v...), '\n')
}
