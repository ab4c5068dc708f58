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

// job is one object's download: a file that grows until done.
type job struct {
	mu      sync.Mutex
	cond    *sync.Cond
	path    string // where the bytes are; renamed into the cache when done
	final   string // cache path, "" when not caching
	written int64
	done    bool
	err     error
	staged  bool // not cached: removed once read
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
		j.mu.Lock()
		_ = os.Remove(j.path)
		j.mu.Unlock()
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
	j := &job{}
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
	stage, err := f.s.stagingDir()
	if err != nil {
		return fail(err)
	}
	file, err := os.CreateTemp(stage, "download-*")
	if err != nil {
		return fail(err)
	}
	j.path = file.Name()
	j.staged = j.final == ""
	ctx, cancel := context.WithCancel(f.s.ctx)
	j.cancel = cancel
	go f.download(ctx, e, j, file)
	return j
}

func (f *fetcher) download(ctx context.Context, e entry, j *job, file *os.File) {
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		_ = file.Close()
		j.finish(ctx.Err())
		return
	}
	err := f.fetch(ctx, e, j, file)
	<-f.sem
	if cerr := file.Close(); err == nil && cerr != nil {
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

// fetch copies the object into file, resuming where a lost connection
// stopped.
func (f *fetcher) fetch(ctx context.Context, e entry, j *job, file *os.File) error {
	var off int64
	buf := make([]byte, 256<<10)
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
				if _, werr := file.Write(buf[:n]); werr != nil {
					return &permanent{werr}
				}
				off += int64(n)
				f.s.c.bytes.Add(int64(n))
				j.advance(int64(n))
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

func (j *job) advance(n int64) {
	j.mu.Lock()
	j.written += n
	j.cond.Broadcast()
	j.mu.Unlock()
}

func (j *job) finish(err error) {
	j.mu.Lock()
	j.done, j.err = true, err
	j.cond.Broadcast()
	j.mu.Unlock()
}

// follow reads a job's file as it grows.
type follow struct {
	j   *job
	f   *os.File
	pos int64
}

func (j *job) reader() (*follow, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.done && j.err != nil && j.written == 0 {
		return nil, j.err
	}
	f, err := os.Open(j.path)
	if err != nil {
		if j.err != nil {
			return nil, j.err
		}
		return nil, err
	}
	return &follow{j: j, f: f}, nil
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
	err := j.err
	j.mu.Unlock()
	if avail <= 0 {
		if err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > avail {
		p = p[:avail]
	}
	n, rerr := r.f.ReadAt(p, r.pos)
	r.pos += int64(n)
	if n > 0 && errors.Is(rerr, io.EOF) {
		rerr = nil
	}
	return n, rerr
}

func (r *follow) Close() error { return r.f.Close() }
