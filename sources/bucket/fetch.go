package bucket

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// fetcher downloads the objects of one listing: when object i is opened,
// objects i … i+Parallel-1 are downloaded at once into the cache (or a
// staging directory), and object i is read while it is still arriving.
type fetcher struct {
	s    *Source
	objs []entry
	mu   sync.Mutex
	jobs []*job
	sem  chan struct{}
}

func newFetcher(s *Source, objs []entry) *fetcher {
	return &fetcher{s: s, objs: objs, jobs: make([]*job, len(objs)), sem: make(chan struct{}, s.opts.Parallel)}
}

// job is one object's download, growing until done: without a cache, in
// memory while the Source's budget lasts, then in a staging file; with
// one, in a file renamed into the cache when complete.
type job struct {
	s       *Source
	mu      sync.Mutex
	cond    *sync.Cond
	chunks  [][]byte // the first memLen bytes; read chunks are dropped
	memLen  int64
	file    *os.File // where bytes past memLen are written
	path    string   // that file's path; renamed into the cache when done
	final   string   // cache path, "" when not caching
	written int64
	done    bool
	err     error
	staged  bool // not cached: dropped once read
	dropped bool
	cancel  context.CancelFunc
}

func (f *fetcher) open(i int) (io.ReadCloser, error) {
	f.mu.Lock()
	for k := i; k < len(f.objs) && k < i+f.s.opts.Parallel; k++ {
		if f.jobs[k] == nil {
			f.jobs[k] = f.start(k)
		}
	}
	j := f.jobs[i]
	f.mu.Unlock()
	release := func() {
		if !j.staged {
			return
		}
		j.cancel()
		j.drop()
		f.mu.Lock()
		if f.jobs[i] == j {
			f.jobs[i] = nil // opened again, it is downloaded again
		}
		f.mu.Unlock()
	}
	rc, err := f.s.unwrap(f.objs[i], j)
	if err != nil {
		release()
		return nil, err
	}
	return &releaser{ReadCloser: rc, release: release}, nil
}

type releaser struct {
	io.ReadCloser
	release func()
	once    sync.Once
}

func (r *releaser) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.release)
	return err
}

// cachePath is where an object version lives in the cache.
func cachePath(dir, base, key, version string) string {
	h := sha256.Sum256([]byte(base + "\x00" + key + "\x00" + version))
	name := hex.EncodeToString(h[:])
	return filepath.Join(dir, "objects", name[:2], name)
}

func (f *fetcher) start(k int) *job {
	e := f.objs[k]
	j := &job{s: f.s}
	j.cond = sync.NewCond(&j.mu)
	if dir := f.s.opts.CacheDir; dir != "" {
		final := cachePath(dir, f.s.base, e.key, e.version)
		if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() {
			j.path, j.written, j.done = final, fi.Size(), true
			f.s.c.fromCache.Add(1)
			f.s.c.cachedBytes.Add(fi.Size())
			return j
		}
		j.final = final
	}
	fail := func(err error) *job {
		j.done, j.err = true, fmt.Errorf("%s%s: cannot stage the download: %w", f.s.base, e.key, err)
		j.cancel = func() {}
		return j
	}
	j.staged = j.final == ""
	if !j.staged {
		if err := j.spill(); err != nil {
			return fail(err)
		}
	}
	ctx, cancel := context.WithCancel(f.s.ctx)
	j.cancel = cancel
	go f.download(ctx, e, j)
	return j
}

// spill starts the file bytes go to from now on.
func (j *job) spill() error {
	stage, err := j.s.stagingDir()
	if err != nil {
		return err
	}
	file, err := os.CreateTemp(stage, "download-*")
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.file, j.path = file, file.Name()
	j.mu.Unlock()
	return nil
}

// drop frees what a job holds once it is read: its memory and its file.
func (j *job) drop() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.dropped = true
	for i, c := range j.chunks {
		j.s.mem.Add(-int64(len(c)))
		j.chunks[i] = nil
	}
	if j.staged && j.path != "" {
		_ = os.Remove(j.path)
	}
}

func (f *fetcher) download(ctx context.Context, e entry, j *job) {
	closeFile := func() error {
		if j.file == nil {
			return nil
		}
		return j.file.Close()
	}
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		_ = closeFile()
		j.finish(ctx.Err())
		return
	}
	err := f.fetch(ctx, e, j)
	<-f.sem
	if cerr := closeFile(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		j.finish(err)
		return
	}
	f.s.c.downloaded.Add(1)
	if j.final == "" {
		j.finish(nil)
		return
	}
	j.mu.Lock()
	if err := os.MkdirAll(filepath.Dir(j.final), 0o755); err == nil {
		if err := os.Rename(j.path, j.final); err == nil {
			j.path = j.final
		}
	}
	j.mu.Unlock()
	j.finish(nil)
}

// errShortDownload is a body that ended, without an error, before the
// size the server announced.
var errShortDownload = errors.New("connection closed before the end of the object")

// fetch copies the object into the job, resuming where a lost connection
// stopped.
func (f *fetcher) fetch(ctx context.Context, e entry, j *job) error {
	var off int64
	buf := make([]byte, chunkSize)
	err := f.s.retry(ctx, func() error {
		r, err := f.s.b.NewRangeReader(ctx, e.key, off, -1, nil)
		if err != nil {
			return err
		}
		defer func() { _ = r.Close() }()
		want := r.Size()
		for {
			n, rerr := r.Read(buf)
			if n > 0 {
				kept, werr := j.write(buf[:n])
				if werr != nil {
					return &permanent{werr}
				}
				if kept {
					buf = make([]byte, chunkSize)
				}
				off += int64(n)
				f.s.c.bytes.Add(int64(n))
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				return rerr
			}
		}
		if off < want {
			return errShortDownload
		}
		return nil
	})
	if err == nil {
		return nil
	}
	var p *permanent
	if errors.As(err, &p) {
		return fmt.Errorf("%s%s: writing the download: %w", f.s.base, e.key, p.err)
	}
	if errors.Is(err, errShortDownload) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Kind: ErrTruncated, Where: f.s.base + e.key,
			What: fmt.Sprintf("download truncated after %d of %d bytes, %d attempts", off, e.size, f.s.opts.Attempts),
			Hint: "events before it were kept; run again to retry", Err: err}
	}
	return f.s.classify(err, "get", e.key)
}

// permanent wraps an error retrying cannot fix.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// chunkSize is the unit of a download kept in memory.
const chunkSize = 256 << 10

// write appends p: in memory (keeping p, kept is set) while nothing went
// to a file yet and the Source's budget allows, else to the file.
func (j *job) write(p []byte) (kept bool, err error) {
	if j.file == nil {
		if j.s.mem.Add(int64(len(p))) <= j.s.opts.Memory {
			j.mu.Lock()
			if j.dropped {
				j.mu.Unlock()
				j.s.mem.Add(-int64(len(p)))
				return false, context.Canceled
			}
			j.chunks = append(j.chunks, p)
			j.memLen += int64(len(p))
			j.written += int64(len(p))
			j.cond.Broadcast()
			j.mu.Unlock()
			return true, nil
		}
		j.s.mem.Add(-int64(len(p)))
		if err := j.spill(); err != nil {
			return false, err
		}
	}
	if _, err := j.file.Write(p); err != nil {
		return false, err
	}
	j.mu.Lock()
	j.written += int64(len(p))
	j.cond.Broadcast()
	j.mu.Unlock()
	return false, nil
}

func (j *job) finish(err error) {
	j.mu.Lock()
	j.done, j.err = true, err
	j.cond.Broadcast()
	j.mu.Unlock()
}

// follow reads a job as it grows: its memory chunks, then its file.
type follow struct {
	j   *job
	f   *os.File
	pos int64
	ci  int // the chunk pos is in, while pos < memLen
	co  int // pos's offset in it
}

func (j *job) reader() (*follow, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done && j.err != nil && j.written == 0 {
		return nil, j.err
	}
	return &follow{j: j}, nil
}

func (r *follow) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	j := r.j
	j.mu.Lock()
	for r.pos >= j.written && !j.done {
		j.cond.Wait()
	}
	avail := j.written - r.pos
	if avail <= 0 {
		err := j.err
		j.mu.Unlock()
		if err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if r.pos < j.memLen {
		c := j.chunks[r.ci]
		n := copy(p, c[r.co:])
		r.co += n
		r.pos += int64(n)
		if r.co == len(c) {
			// Read once: the memory goes back to the budget.
			if j.staged {
				j.chunks[r.ci] = nil
				j.s.mem.Add(-int64(len(c)))
			}
			r.ci++
			r.co = 0
		}
		j.mu.Unlock()
		return n, nil
	}
	path, memLen := j.path, j.memLen
	if r.f == nil {
		f, err := os.Open(path)
		if err != nil {
			j.mu.Unlock()
			return 0, err
		}
		r.f = f
	}
	j.mu.Unlock()
	if int64(len(p)) > avail {
		p = p[:avail]
	}
	n, rerr := r.f.ReadAt(p, r.pos-memLen)
	r.pos += int64(n)
	if n > 0 && errors.Is(rerr, io.EOF) {
		rerr = nil
	}
	return n, rerr
}

func (r *follow) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}
