package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Options configure a Source. The zero value is usable.
type Options struct {
	// StreamPrefix selects the log streams (default "kube-apiserver-audit",
	// EKS's audit streams; one per API server instance).
	StreamPrefix string
	// Parallel is how many streams are read at once (default 4).
	Parallel int
	// Attempts is how many times a request is tried when throttled or on
	// a server error (default 10).
	Attempts int
	// Backoff is the delay before the first retry, doubled on each retry up
	// to 20s, with jitter (default 500ms).
	Backoff time.Duration
	// Slack widens [since, until) on the service side: CloudWatch Logs
	// files events under the time EKS gave them, which may differ a little
	// from requestReceivedTimestamp (default 5m). The reader keeps the
	// exact range.
	Slack time.Duration
	// PageSize is FilterLogEvents' limit per page (0: the service's
	// default, 10,000 events or 1 MB).
	PageSize int32
}

func (o Options) withDefaults() Options {
	if o.StreamPrefix == "" {
		o.StreamPrefix = "kube-apiserver-audit"
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Attempts <= 0 {
		o.Attempts = 10
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.Slack <= 0 {
		o.Slack = 5 * time.Minute
	}
	return o
}

// Object is one log stream to read, oldest first.
type Object struct {
	// Name is cloudwatch://<log group>/<stream>, as messages name it.
	Name string
	// Stream is the log stream's name: one per API server instance, so
	// streams overlap in time.
	Stream string
	// Time is the stream's first event, zero when not known.
	Time time.Time
	// Open streams the stream's events of the range, one message (an
	// audit event) per line, while later streams are fetched in parallel.
	Open func() (io.ReadCloser, error)
	// From, called before any Open, makes the stream read on from a
	// position an earlier run reached (its Position): from that event
	// timestamp, leaving out the events with it already read.
	From func(Position)
	// Position is where the events read so far end, for the next run's
	// From; false before anything was read.
	Position func() (Position, bool)
}

// Position is a place in a log stream: the timestamp (ms) of the last
// event read, and how many events with that timestamp were read.
type Position struct {
	Millis int64
	AtLast int
}

// Stats count one Source's work.
type Stats struct {
	Streams   int64 `json:"streams"`
	Pruned    int64 `json:"prunedByTime"`
	Requests  int64 `json:"requests"`
	Events    int64 `json:"events"`
	Bytes     int64 `json:"bytes"`
	Throttled int64 `json:"throttled"`
	Retries   int64 `json:"retries"`
}

// String is the one-line summary of a run.
func (s Stats) String() string {
	msg := fmt.Sprintf("%d streams (%d pruned by time), %d requests, %d events", s.Streams, s.Pruned, s.Requests, s.Events)
	if s.Throttled > 0 {
		msg += fmt.Sprintf(", throttled %d times (backed off)", s.Throttled)
	}
	if n := s.Retries - s.Throttled; n > 0 {
		msg += fmt.Sprintf(", %d retries", n)
	}
	return msg
}

// Kinds of errors, for errors.Is.
var (
	ErrNoCredentials = errors.New("no usable credentials")
	ErrAccessDenied  = errors.New("access denied")
	ErrNotFound      = errors.New("log group not found")
	ErrNoStreams     = errors.New("no audit log streams")
	ErrThrottled     = errors.New("throttled")
)

// Error says what failed, where, and what to do about it.
type Error struct {
	Kind  error
	Where string
	What  string
	Hint  string
	Err   error
}

func (e *Error) Error() string {
	s := e.Where + ": " + e.What
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	if e.Err != nil {
		d := e.Err.Error()
		if len(d) > 300 {
			d = d[:300] + "..."
		}
		s += " (" + d + ")"
	}
	return s
}

func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// Source is one log group.
type Source struct {
	group  string
	region string
	client *cloudwatchlogs.Client
	opts   Options

	requests, events, bytes, throttled, retries, streams, pruned atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
}

// IsURL reports whether s names a log group Open understands.
func IsURL(s string) bool { return strings.HasPrefix(s, "cloudwatch://") }

// Open opens cloudwatch:///aws/eks/CLUSTER/cluster (the log group EKS
// writes its control plane logs to; cloudwatch://NAME for a group whose
// name has no leading slash). Query parameters: region, profile, endpoint.
// Credentials and region come from the AWS SDK's standard chain otherwise
// (environment, profile, IRSA, instance role). Nothing is requested until
// Objects.
func Open(ctx context.Context, rawURL string, opts Options) (*Source, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "cloudwatch" {
		return nil, fmt.Errorf("%s: want cloudwatch:///LOG/GROUP (for EKS cloudwatch:///aws/eks/CLUSTER/cluster)", rawURL)
	}
	group := u.Path
	if u.Host != "" {
		group = u.Host + u.Path
	}
	group = strings.TrimSuffix(group, "/")
	if group == "" || group == "/" {
		return nil, fmt.Errorf("%s: no log group (for EKS cloudwatch:///aws/eks/CLUSTER/cluster)", rawURL)
	}
	s := &Source{group: group, opts: opts.withDefaults()}
	q := u.Query()
	var lo []func(*config.LoadOptions) error
	for k := range q {
		switch k {
		case "region":
			lo = append(lo, config.WithRegion(q.Get(k)))
		case "profile":
			lo = append(lo, config.WithSharedConfigProfile(q.Get(k)))
		case "endpoint":
		default:
			return nil, fmt.Errorf("%s: unknown query parameter %q (want region, profile, endpoint)", rawURL, k)
		}
	}
	lo = append(lo, config.WithRetryer(func() aws.Retryer { return s.retryer() }), config.WithLogger(logging.Nop{}))
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("%s: loading the AWS configuration: %w", s.where(""), err)
	}
	if cfg.Region == "" {
		return nil, &Error{Kind: ErrNotFound, Where: s.where(""), What: "no AWS region",
			Hint: "set AWS_REGION (the cluster's region), or add ?region= to the URL"}
	}
	s.region = cfg.Region
	s.client = cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) {
		if ep := q.Get("endpoint"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close stops the streams being fetched.
func (s *Source) Close() error {
	s.cancel()
	return nil
}

// URL names the log group.
func (s *Source) URL() string { return "cloudwatch://" + s.group }

func (s *Source) where(stream string) string {
	if stream == "" {
		return "cloudwatch://" + s.group
	}
	return "cloudwatch://" + s.group + "/" + stream
}

// Stats returns the counters so far.
func (s *Source) Stats() Stats {
	return Stats{Streams: s.streams.Load(), Pruned: s.pruned.Load(), Requests: s.requests.Load(),
		Events: s.events.Load(), Bytes: s.bytes.Load(), Throttled: s.throttled.Load(), Retries: s.retries.Load()}
}

// retryer retries throttling and server errors with exponential backoff
// and jitter, counts them, and never gives up early for want of retry
// tokens (throttling is the quota speaking, not an outage).
func (s *Source) retryer() aws.Retryer {
	return &counting{Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = s.opts.Attempts
		o.RateLimiter = ratelimit.None
		o.Backoff = backoff{base: s.opts.Backoff, max: 20 * time.Second}
	}), s: s}
}

type backoff struct{ base, max time.Duration }

func (b backoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	d := b.base << min(attempt-1, 20)
	if d > b.max || d <= 0 {
		d = b.max
	}
	// Full jitter over the upper half, so that parallel streams spread out.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1)), nil
}

type counting struct {
	aws.Retryer
	s *Source
}

func (c *counting) IsErrorRetryable(err error) bool {
	ok := c.Retryer.IsErrorRetryable(err)
	if ok {
		c.s.retries.Add(1)
		if isThrottle(err) {
			c.s.throttled.Add(1)
		}
	}
	return ok
}

func isThrottle(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException":
			return true
		}
	}
	return false
}

// classify turns an SDK error into one that says what to do.
func (s *Source) classify(err error, op, stream string) error {
	var done *Error
	if errors.As(err, &done) || errors.Is(err, context.Canceled) {
		return err
	}
	where := s.where(stream)
	arn := fmt.Sprintf("arn:aws:logs:%s:ACCOUNT:log-group:%s:*", s.region, s.group)
	var api smithy.APIError
	code := ""
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	var re *smithyhttp.ResponseError
	forbidden := code == "" && errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden
	switch {
	case code == "AccessDeniedException" || code == "AccessDenied" || forbidden:
		return &Error{Kind: ErrAccessDenied, Where: where, What: "access denied calling " + op,
			Hint: fmt.Sprintf("the credentials need logs:DescribeLogStreams and logs:FilterLogEvents on %s", arn), Err: err}
	case code == "ResourceNotFoundException":
		return &Error{Kind: ErrNotFound, Where: where, What: fmt.Sprintf("log group %s not found in %s", s.group, s.region),
			Hint: "check the cluster name and region; EKS writes audit logs there only when the cluster's audit logging is on (aws eks update-cluster-config --logging '{\"clusterLogging\":[{\"types\":[\"audit\"],\"enabled\":true}]}')", Err: err}
	case code == "UnrecognizedClientException" || code == "InvalidClientTokenId" || code == "ExpiredTokenException" ||
		code == "InvalidSignatureException" || code == "ExpiredToken":
		return &Error{Kind: ErrNoCredentials, Where: where, What: "the credentials were rejected",
			Hint: "check AWS_PROFILE or the access key, or refresh an expired session ('aws sso login')", Err: err}
	case isThrottle(err):
		return &Error{Kind: ErrThrottled, Where: where,
			What: fmt.Sprintf("%s still throttled after %d attempts", op, s.opts.Attempts),
			Hint: "the account's CloudWatch Logs quota for it is shared by every caller in the region: retry later, or read fewer streams at once", Err: err}
	}
	msg := err.Error()
	for _, m := range []string{"failed to retrieve credentials", "failed to refresh cached credentials", "no EC2 IMDS role found"} {
		if strings.Contains(msg, m) {
			return &Error{Kind: ErrNoCredentials, Where: where, What: "no AWS credentials found",
				Hint: "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an IAM role (IRSA, an instance profile)", Err: err}
		}
	}
	return fmt.Errorf("%s: %s: %w", where, op, err)
}

type stream struct {
	name        string
	first, last time.Time
}

// Objects lists the log group's audit streams that may hold events in
// [since, until) (zero bounds are open), oldest first.
func (s *Source) Objects(ctx context.Context, since, until time.Time) ([]Object, error) {
	var streams []stream
	var token *string
	for {
		s.requests.Add(1)
		out, err := s.client.DescribeLogStreams(ctx, &cloudwatchlogs.DescribeLogStreamsInput{
			LogGroupName:        aws.String(s.group),
			LogStreamNamePrefix: aws.String(s.opts.StreamPrefix),
			NextToken:           token,
		})
		if err != nil {
			return nil, s.classify(err, "DescribeLogStreams", "")
		}
		for _, ls := range out.LogStreams {
			st := stream{name: aws.ToString(ls.LogStreamName)}
			if ls.FirstEventTimestamp != nil {
				st.first = time.UnixMilli(*ls.FirstEventTimestamp)
			}
			// lastEventTimestamp and lastIngestionTime lag behind (up to an
			// hour, the API says): take the later, plus that hour.
			last := max(aws.ToInt64(ls.LastEventTimestamp), aws.ToInt64(ls.LastIngestionTime))
			if last > 0 {
				st.last = time.UnixMilli(last).Add(time.Hour)
			}
			s.streams.Add(1)
			if !since.IsZero() && !st.last.IsZero() && st.last.Add(s.opts.Slack).Before(since) ||
				!until.IsZero() && !st.first.IsZero() && !st.first.Add(-s.opts.Slack).Before(until) {
				s.pruned.Add(1)
				continue
			}
			streams = append(streams, st)
		}
		token = out.NextToken
		if token == nil || len(out.LogStreams) == 0 {
			break
		}
	}
	if s.streams.Load() == 0 {
		return nil, &Error{Kind: ErrNoStreams, Where: s.where(""),
			What: fmt.Sprintf("no %s* log streams", s.opts.StreamPrefix),
			Hint: "is the cluster's audit logging on? (EKS console: Observability, Control plane logging; or aws eks describe-cluster --query cluster.logging)"}
	}
	sort.SliceStable(streams, func(i, j int) bool {
		if !streams[i].first.Equal(streams[j].first) {
			return streams[i].first.Before(streams[j].first)
		}
		return streams[i].name < streams[j].name
	})
	f := &fetcher{s: s, streams: streams, since: since, until: until, jobs: make([]*job, len(streams)),
		sem: make(chan struct{}, s.opts.Parallel)}
	f.from = make([]*Position, len(streams))
	f.pos = make([]*Position, len(streams))
	objs := make([]Object, len(streams))
	for i, st := range streams {
		objs[i] = Object{Name: s.where(st.name), Stream: st.name, Time: st.first,
			Open: func() (io.ReadCloser, error) { return f.open(i) },
			From: func(p Position) {
				f.mu.Lock()
				f.from[i] = &p
				f.mu.Unlock()
			},
			Position: func() (Position, bool) {
				f.mu.Lock()
				defer f.mu.Unlock()
				if f.pos[i] == nil {
					return Position{}, false
				}
				return *f.pos[i], true
			}}
	}
	return objs, nil
}

// fetcher reads streams ahead: opening stream i starts streams i …
// i+Parallel-1, each paging FilterLogEvents into a small queue of pages.
type fetcher struct {
	s            *Source
	streams      []stream
	since, until time.Time
	mu           sync.Mutex
	jobs         []*job
	sem          chan struct{}
	// from are where streams start (From); pos where the pages read end.
	from, pos []*Position
}

type job struct {
	pages  chan page
	err    error // set before pages is closed
	cancel context.CancelFunc
	// done records a page read: the stream's position after it.
	done func(Position)
}

// page is a FilterLogEvents page as lines, and the stream's position at
// its end.
type page struct {
	data []byte
	pos  Position
}

func (f *fetcher) open(i int) (io.ReadCloser, error) {
	f.mu.Lock()
	for k := i; k < len(f.streams) && k < i+f.s.opts.Parallel; k++ {
		if f.jobs[k] == nil {
			f.jobs[k] = f.start(k)
		}
	}
	j := f.jobs[i]
	f.jobs[i] = nil // opened again, it is fetched again
	f.mu.Unlock()
	j.done = func(p Position) {
		f.mu.Lock()
		f.pos[i] = &p
		f.mu.Unlock()
	}
	return &pageReader{j: j}, nil
}

func (f *fetcher) start(k int) *job {
	ctx, cancel := context.WithCancel(f.s.ctx)
	j := &job{pages: make(chan page, 2), cancel: cancel}
	from := f.from[k]
	go func() {
		defer close(j.pages)
		select {
		case f.sem <- struct{}{}:
		case <-ctx.Done():
			j.err = ctx.Err()
			return
		}
		defer func() { <-f.sem }()
		j.err = f.fetch(ctx, f.streams[k].name, from, j)
	}()
	return j
}

func (f *fetcher) fetch(ctx context.Context, name string, from *Position, j *job) error {
	in := &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName:   aws.String(f.s.group),
		LogStreamNames: []string{name},
	}
	if !f.since.IsZero() {
		in.StartTime = aws.Int64(f.since.Add(-f.s.opts.Slack).UnixMilli())
	}
	var pos Position
	skip := 0
	if from != nil {
		// Read on: from the last timestamp read, without the events with
		// it that were read.
		if in.StartTime == nil || *in.StartTime < from.Millis {
			in.StartTime = aws.Int64(from.Millis)
		}
		pos, skip = *from, from.AtLast
	}
	if !f.until.IsZero() {
		in.EndTime = aws.Int64(f.until.Add(f.s.opts.Slack).UnixMilli())
	}
	if f.s.opts.PageSize > 0 {
		in.Limit = aws.Int32(f.s.opts.PageSize)
	}
	for {
		f.s.requests.Add(1)
		out, err := f.s.client.FilterLogEvents(ctx, in)
		if err != nil {
			return f.s.classify(err, "FilterLogEvents", name)
		}
		var data []byte
		for _, ev := range out.Events {
			ts := aws.ToInt64(ev.Timestamp)
			if from != nil && ts <= from.Millis && skip > 0 {
				if ts == from.Millis {
					skip--
				}
				continue
			}
			switch {
			case ts == pos.Millis:
				pos.AtLast++
			case ts > pos.Millis:
				pos = Position{Millis: ts, AtLast: 1}
			}
			m := strings.TrimRight(aws.ToString(ev.Message), "\r\n")
			if m == "" {
				continue
			}
			data = append(append(data, m...), '\n')
		}
		f.s.events.Add(int64(len(out.Events)))
		f.s.bytes.Add(int64(len(data)))
		if len(data) > 0 || pos != (Position{}) {
			select {
			case j.pages <- page{data: data, pos: pos}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if out.NextToken == nil || aws.ToString(out.NextToken) == aws.ToString(in.NextToken) {
			return nil
		}
		in.NextToken = out.NextToken
	}
}

// pageReader reads a job's pages as one stream.
type pageReader struct {
	j   *job
	cur []byte
}

func (r *pageReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		pg, ok := <-r.j.pages
		if !ok {
			if r.j.err != nil {
				return 0, r.j.err
			}
			return 0, io.EOF
		}
		r.cur = pg.data
		r.j.done(pg.pos)
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *pageReader) Close() error {
	r.j.cancel()
	for range r.j.pages { // let the fetcher finish
	}
	return nil
}
