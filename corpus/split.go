package corpus

import (
	"bufio"
	"bytes"
	"hash/fnv"
	"io"
)

// GenerateSplit writes one cluster's log, as Generate would, over the
// logs of len(ws) kube-apiservers behind a load balancer: each request's
// events (its stages) go to one of them, picked by its auditID. Merged by
// time, the logs hold what Generate's one log holds.
func GenerateSplit(ws []io.Writer, o Options) (int64, error) {
	sp := &splitter{}
	for _, w := range ws {
		sp.outs = append(sp.outs, bufio.NewWriterSize(w, 1<<20))
	}
	n, err := Generate(sp, o)
	if err == nil && len(sp.partial) > 0 {
		err = sp.line(sp.partial)
	}
	for _, b := range sp.outs {
		if ferr := b.Flush(); err == nil {
			err = ferr
		}
	}
	return n, err
}

// splitter sends each line to the output its auditID hashes to.
type splitter struct {
	outs    []*bufio.Writer
	partial []byte
}

var auditIDKey = []byte(`"auditID":"`)

func (s *splitter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			break
		}
		line := p[:i+1]
		if len(s.partial) > 0 {
			line = append(s.partial, line...)
		}
		if err := s.line(line); err != nil {
			return 0, err
		}
		s.partial = s.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (s *splitter) line(l []byte) error {
	id := l
	if k := bytes.Index(l, auditIDKey); k >= 0 {
		id = l[k+len(auditIDKey):]
		if e := bytes.IndexByte(id, '"'); e >= 0 {
			id = id[:e]
		}
	}
	h := fnv.New32a()
	h.Write(id)
	_, err := s.outs[h.Sum32()%uint32(len(s.outs))].Write(l)
	return err
}
