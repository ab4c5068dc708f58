package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// proxyClient makes requests to kubelets' /logs/ through the API server's
// node proxy: GET /api/v1/nodes/NAME/proxy/logs/PATH.
type proxyClient struct {
	hc *http.Client
	// nodesURL is the API server's .../api/v1/nodes URL.
	nodesURL *url.URL
	// requestTimeout bounds a request until its response headers (and the
	// whole of a directory listing); idleTimeout bounds a body's silence.
	requestTimeout, idleTimeout time.Duration
	retries                     int
	backoff                     time.Duration
}

// logURL is the proxy URL of path (relative to /var/log; dir adds the
// trailing slash that makes http.FileServer list a directory).
func (c *proxyClient) logURL(node, path string, dir bool) string {
	u := *c.nodesURL
	p := strings.TrimSuffix(u.Path, "/") + "/" + node + "/proxy/logs/" + strings.Trim(path, "/")
	if dir && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	u.Path, u.RawPath = p, ""
	return u.String()
}

// send makes one GET. The returned cancel ends the request (and its body);
// the caller calls it when done.
func (c *proxyClient) send(ctx context.Context, node, path string, dir bool, rangeFrom int64) (*http.Response, context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.logURL(node, path, dir), nil)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	// Bytes as they are on disk: a transparently gunzipped body would make
	// the offsets of a resumed Range request wrong.
	req.Header.Set("Accept-Encoding", "identity")
	if rangeFrom >= 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", rangeFrom))
	}
	timer := time.AfterFunc(c.requestTimeout, cancel)
	resp, err := c.hc.Do(req)
	timer.Stop()
	if err != nil {
		cancel()
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = fmt.Errorf("no answer within %s: %w", c.requestTimeout, err)
		}
		return nil, nil, &UnreachableError{Node: node, Err: err}
	}
	return resp, cancel, nil
}

// statusError is a response that is not what was asked for.
type statusError struct {
	node, path string
	code       int
	// status is the API server's own Status object; nil when the body came
	// from the kubelet (or whatever answered).
	status *metav1.Status
	body   string
}

func (e *statusError) Error() string {
	msg := e.body
	if e.status != nil {
		msg = e.status.Message
	}
	return fmt.Sprintf("node/%s: %s: %d %s: %s", e.node, logPath(e.path), e.code, http.StatusText(e.code), strings.TrimSpace(msg))
}

// errNotFound marks a path the kubelet does not have.
var errNotFound = errors.New("no such file or directory")

// checkResponse turns a response that is not 2xx into the error that says
// what to do about it, and closes its body.
func checkResponse(resp *http.Response, node, path string) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	se := &statusError{node: node, path: path, code: resp.StatusCode, body: string(body)}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct == "application/json" {
		var st metav1.Status
		if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
			se.status = &st
		}
	}
	if se.status != nil {
		// The API server answered itself: RBAC, a missing node, or the
		// proxy failing to reach the kubelet.
		switch {
		case resp.StatusCode == http.StatusForbidden:
			return &PermissionError{Nodes: []string{node}, Verb: "get", Resource: "nodes/proxy", Message: se.status.Message}
		case resp.StatusCode == http.StatusNotFound && se.status.Reason == metav1.StatusReasonNotFound:
			return fmt.Errorf("node/%s: no such node (%s)", node, se.status.Message)
		case resp.StatusCode == http.StatusUnauthorized:
			return fmt.Errorf("node/%s: the API server did not accept the kubeconfig's credentials: %s", node, se.status.Message)
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			return &UnreachableError{Node: node, Err: se}
		}
		return se
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("node/%s: %s: %w", node, logPath(path), errNotFound)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w; the kubelet refused the API server's kubelet client (--kubelet-client-certificate): "+
			"its user needs \"get\" on \"nodes/log\" in the kubelet's authorizer (kubeadm binds it to system:kubelet-api-admin)", se)
	case http.StatusMethodNotAllowed:
		return fmt.Errorf("%w; the kubelet does not serve /logs/ (its configuration has enableSystemLogHandler: false)", se)
	case http.StatusRequestedRangeNotSatisfiable:
		return se
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return &UnreachableError{Node: node, Err: se}
	}
	return se
}

// retryable reports whether err may go away by itself.
func retryable(err error) bool {
	var ue *UnreachableError
	return errors.As(err, &ue)
}

// retry calls f until it succeeds, fails for good, or has failed
// c.retries+1 times, waiting c.backoff, 2×, 4×... (at most 10 s) between.
func (c *proxyClient) retry(ctx context.Context, f func() error) error {
	var err error
	for attempt := 0; ; attempt++ {
		if err = f(); err == nil || !retryable(err) || attempt >= c.retries {
			return err
		}
		if werr := sleep(ctx, backoffDelay(c.backoff, attempt)); werr != nil {
			return errors.Join(err, werr)
		}
	}
}

func backoffDelay(base time.Duration, attempt int) time.Duration {
	d := base << min(attempt, 10)
	return min(d, 10*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// list returns the entries of a directory, or an error wrapping
// errNotFound when there is no such directory.
func (c *proxyClient) list(ctx context.Context, node, dir string) ([]entry, error) {
	var es []entry
	err := c.retry(ctx, func() error {
		resp, cancel, err := c.send(ctx, node, dir, true, -1)
		if err != nil {
			return err
		}
		defer cancel()
		if err := checkResponse(resp, node, dir+"/"); err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		timer := time.AfterFunc(c.requestTimeout, cancel)
		body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		timer.Stop()
		if err != nil {
			return &UnreachableError{Node: node, Err: fmt.Errorf("listing %s: %w", logPath(dir+"/"), err)}
		}
		es = parseListing(body)
		return nil
	})
	return es, err
}

// kind of a path: a file with its size, a directory, or missing.
type pathKind int

const (
	kindMissing pathKind = iota
	kindFile
	kindDir
)

// probe tells a file from a directory and returns a file's size, with a
// one-byte Range request: the kubelet's /logs/ answers GET only, and
// http.FileServer redirects a directory named without its slash.
func (c *proxyClient) probe(ctx context.Context, node, path string) (pathKind, int64, error) {
	var kind pathKind
	var size int64
	err := c.retry(ctx, func() error {
		ctx, cancelReq := context.WithCancel(ctx)
		defer cancelReq()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.logURL(node, path, false), nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept-Encoding", "identity")
		req.Header.Set("Range", "bytes=0-0")
		timer := time.AfterFunc(c.requestTimeout, cancelReq)
		defer timer.Stop()
		resp, err := c.hc.Do(req)
		if err != nil {
			return &UnreachableError{Node: node, Err: err}
		}
		defer func() { _ = resp.Body.Close() }()
		switch {
		case resp.StatusCode == http.StatusMovedPermanently && strings.HasSuffix(resp.Header.Get("Location"), "/"):
			kind = kindDir
			return nil
		case resp.StatusCode == http.StatusPartialContent:
			_, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
			if !ok {
				return fmt.Errorf("node/%s: %s: bad Content-Range %q", node, logPath(path), resp.Header.Get("Content-Range"))
			}
			kind, size = kindFile, total
			return nil
		case resp.StatusCode == http.StatusOK:
			kind, size = kindFile, resp.ContentLength
			return nil
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
			// An empty file: no byte 0.
			kind, size = kindFile, 0
			return nil
		}
		err = checkResponse(resp, node, path)
		if errors.Is(err, errNotFound) {
			kind = kindMissing
			return nil
		}
		if err == nil {
			err = fmt.Errorf("node/%s: %s: unexpected %s", node, logPath(path), resp.Status)
		}
		return err
	})
	return kind, size, err
}

// parseContentRange parses "bytes FIRST-LAST/TOTAL" (TOTAL may be "*").
func parseContentRange(s string) (first, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	span, size, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	from, _, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	var err error
	if first, err = strconv.ParseInt(from, 10, 64); err != nil {
		return 0, 0, false
	}
	if size == "*" {
		return first, -1, true
	}
	if total, err = strconv.ParseInt(size, 10, 64); err != nil {
		return 0, 0, false
	}
	return first, total, true
}

// overlap is how many bytes already read a resumed request asks for again,
// to check that it continues the same file: a live audit.log rotated
// between two requests would otherwise be spliced silently.
const overlap = 512

// stream reads one file through the node proxy, resuming with a Range
// request where a broken connection stopped it.
type stream struct {
	ctx        context.Context
	c          *proxyClient
	node, path string

	off  int64  // bytes returned so far
	tail []byte // the last ≤ overlap bytes returned
	// failures counts failed attempts since the last byte read.
	failures int
	lastErr  error

	body    io.ReadCloser
	cancel  context.CancelFunc
	idle    *time.Timer
	stalled atomic.Bool // the idle timer ended the request
	closed  bool
}

func (s *stream) Read(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("read of a closed stream")
	}
	for {
		if s.body == nil {
			if err := s.open(); err != nil {
				return 0, err
			}
		}
		n, err := s.body.Read(p)
		if n > 0 {
			s.idle.Reset(s.c.idleTimeout)
			s.keep(p[:n])
			s.failures = 0
		}
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, io.EOF):
			return n, io.EOF
		}
		// The connection broke (or went silent): resume from s.off.
		s.drop()
		if cerr := s.ctx.Err(); cerr != nil {
			return n, cerr
		}
		if s.stalled.Load() {
			err = fmt.Errorf("no data for %s", s.c.idleTimeout)
		}
		s.lastErr = err
		s.failures++
		if n > 0 {
			return n, nil
		}
	}
}

// keep records b as returned.
func (s *stream) keep(b []byte) {
	s.off += int64(len(b))
	if len(b) >= overlap {
		s.tail = append(s.tail[:0], b[len(b)-overlap:]...)
		return
	}
	s.tail = append(s.tail, b...)
	if len(s.tail) > overlap {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-overlap:]...)
	}
}

// open starts (or resumes) the download, retrying with backoff.
func (s *stream) open() error {
	for {
		if s.failures > s.c.retries {
			return fmt.Errorf("node/%s: %s: connection lost at byte %d and %d attempts to resume failed: %w",
				s.node, logPath(s.path), s.off, s.failures, s.lastErr)
		}
		if s.failures > 0 {
			if err := sleep(s.ctx, backoffDelay(s.c.backoff, s.failures-1)); err != nil {
				return err
			}
		}
		err := s.try()
		if err == nil {
			return nil
		}
		if !retryable(err) {
			return err
		}
		s.lastErr = err
		s.failures++
	}
}

// try makes one request from s.off (less the overlap) and checks it.
func (s *stream) try() error {
	from, again := int64(-1), int64(0)
	if s.off > 0 {
		again = int64(len(s.tail))
		from = s.off - again
	}
	resp, cancel, err := s.c.send(s.ctx, s.node, s.path, false, from)
	if err != nil {
		return err
	}
	if err := checkResponse(resp, s.node, s.path); err != nil {
		cancel()
		var se *statusError
		if errors.As(err, &se) && se.code == http.StatusRequestedRangeNotSatisfiable {
			return fmt.Errorf("node/%s: %s is now shorter than the %d bytes already read: it was rotated or truncated while being read",
				s.node, logPath(s.path), s.off)
		}
		return err
	}
	if from >= 0 {
		first, _, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if resp.StatusCode != http.StatusPartialContent || !ok || first != from {
			_ = resp.Body.Close()
			cancel()
			return fmt.Errorf("node/%s: %s: resuming at byte %d, the server answered %s without that range", s.node, logPath(s.path), s.off, resp.Status)
		}
	}
	s.body, s.cancel = resp.Body, cancel
	s.stalled.Store(false)
	s.idle = time.AfterFunc(s.c.idleTimeout, func() {
		s.stalled.Store(true)
		cancel()
	})
	if again == 0 {
		return nil
	}
	got := make([]byte, again)
	if _, err := io.ReadFull(s.body, got); err != nil {
		s.drop()
		return &UnreachableError{Node: s.node, Err: err}
	}
	if !bytes.Equal(got, s.tail) {
		s.drop()
		return fmt.Errorf("node/%s: %s changed while being read (rotated or rewritten): its bytes before %d differ from what was read",
			s.node, logPath(s.path), s.off)
	}
	return nil
}

// drop ends the current request.
func (s *stream) drop() {
	if s.body == nil {
		return
	}
	s.idle.Stop()
	_ = s.body.Close()
	s.cancel()
	s.body, s.cancel = nil, nil
}

func (s *stream) Close() error {
	s.drop()
	s.closed = true
	return nil
}

// logPath is path as it is on the node.
func logPath(path string) string {
	return "/var/log/" + strings.TrimPrefix(path, "/")
}
