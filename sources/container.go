package sources

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"regexp"
)

// Audit logs written to stdout (--audit-log-path=-) end up in the node's
// container log, /var/log/containers/kube-apiserver-*.log, in the CRI
// format: "<time> <stream> <F|P> <content>", with lines longer than 16 KiB
// split into partial (P) records. criReader turns such a log back into the
// audit JSON lines: it strips the prefix, joins partial records, and keeps
// line numbers by writing a blank line for each record it consumed into a
// later one and for each stderr record (the apiserver's own log).
type criReader struct {
	br      *bufio.Reader
	closer  io.Closer
	out     []byte
	partial []byte
	maxLine int
	line    []byte
	err     error
	// Stderr counts the stderr records left out; TooLong the joined lines
	// dropped for exceeding maxLine.
	Stderr  int64
	TooLong int64
}

var criPrefix = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}) (?:stdout|stderr) [FP] `)

// containerLog wraps rc in a criReader when its first line is a CRI
// container-log record.
func containerLog(rc io.ReadCloser, maxLine int) (io.ReadCloser, *criReader) {
	br := bufio.NewReaderSize(rc, 256<<10)
	head, _ := br.Peek(512)
	if !criPrefix.Match(head) {
		return &decompressor{Reader: br, closers: []io.Closer{rc}}, nil
	}
	c := &criReader{br: br, closer: rc, maxLine: maxLine}
	return c, c
}

func (c *criReader) Close() error { return c.closer.Close() }

func (c *criReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		c.next()
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// next reads one record and sets out to what it becomes.
func (c *criReader) next() {
	c.line = c.line[:0]
	for {
		frag, err := c.br.ReadSlice('\n')
		if len(c.line)+len(frag) <= c.maxLine+64 {
			c.line = append(c.line, frag...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			c.err = err
		}
		break
	}
	rec := bytes.TrimSuffix(c.line, []byte("\n"))
	if len(rec) == 0 {
		if c.err == nil {
			c.out = []byte("\n")
		}
		return
	}
	loc := criPrefix.FindIndex(rec)
	if loc == nil {
		// Not a CRI record: pass it on, it is counted where it fails.
		c.out = append(append(c.out[:0], rec...), '\n')
		return
	}
	prefix := rec[:loc[1]]
	content := rec[loc[1]:]
	tag := prefix[len(prefix)-2]
	if bytes.Contains(prefix, []byte(" stderr ")) {
		c.Stderr++
		c.out = []byte("\n")
		return
	}
	if tag == 'P' {
		if len(c.partial)+len(content) > c.maxLine {
			c.partial = c.partial[:0]
			c.TooLong++
		} else {
			c.partial = append(c.partial, content...)
		}
		c.out = []byte("\n")
		return
	}
	c.out = append(append(append(c.out[:0], c.partial...), content...), '\n')
	c.partial = c.partial[:0]
}
