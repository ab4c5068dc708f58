package bucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcp"
)

// Options configure a Source. The zero value is usable.
type Options struct {
	// CacheDir keeps every downloaded object, keyed by bucket, key and
	// version (ETag or generation), so that a second run over the same
	// range downloads nothing. Empty: objects are staged in a temporary
	// directory, each removed once read.
	CacheDir string
	// Parallel is how many objects are downloaded at once, ahead of the
	// one being read (default 4).
	Parallel int
	// Attempts is how many times a request is tried on a transient error
	// (throttling, 5xx, a connection lost mid-object) before giving up
	// (default 5). A lost download resumes where it stopped.
	Attempts int
	// Backoff is the delay before the first retry, doubled on each retry
	// up to 10s (default 250ms).
	Backoff time.Duration
	// Slack is how far the events of an object may lie outside the hour
	// (or minute) its key names: delivery delays and buffering (Firehose
	// buffers up to 900s). Objects are pruned only when their window
	// widened by Slack misses the range (default 15m).
	Slack time.Duration
	// Memory is how many bytes of downloads ahead of the reader are held
	// in memory when there is no CacheDir, before they go to a staging
	// file (default 256 MiB; negative: always a file).
	Memory int64
	// MaxRecord bounds one envelope record (a CloudWatch Logs batch in a
	// Firehose object) held in memory (default 64 MiB).
	MaxRecord int
}

func (o Options) withDefaults() Options {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	if o.Slack <= 0 {
		o.Slack = 15 * time.Minute
	}
	if o.MaxRecord <= 0 {
		o.MaxRecord = 64 << 20
	}
	if o.Memory == 0 {
		o.Memory = 256 << 20
	}
	return o
}

// Object is one object to read, oldest first.
type Object struct {
	// Name is the bucket URL and key, as messages name it
	// (s3://audit/eks/2026/11/25/05/x.gz).
	Name string
	// Key is the object's key in the bucket.
	Key string
	// Time is the start of the period the key names (the hour of
	// .../2026/11/25/05/...), zero when the key names none.
	Time time.Time
	// Layout names the provider layout the key follows: LayoutAKS,
	// LayoutGKE, LayoutFirehose, LayoutCloudWatchExport, LayoutDated
	// (date directories only) or "" (none).
	Layout string
	// Stream names the log the object is a part of (for AKS the cluster,
	// for Firehose the delivery stream, for an export task the task and
	// log stream, for GKE the log and shard): objects of one stream hold
	// successive times, oldest first; objects of different streams
	// overlap in time. Empty when the key tells nothing.
	Stream string
	// Size is the listed size in bytes.
	Size int64
	// Version identifies the object's content: the ETag (S3, Azure), the
	// generation (GCS), else size, modification time and MD5.
	Version string
	// Open returns the object's content as lines the audit reader
	// understands: envelopes it does not (Firehose records, export-task
	// lines) are unwrapped; anything else is returned as stored, possibly
	// compressed. Objects are downloaded ahead, in parallel, while earlier
	// ones are read.
	Open func() (io.ReadCloser, error)
}

// Provider layouts recognized in keys.
const (
	LayoutAKS              = "aks"
	LayoutGKE              = "gke"
	LayoutFirehose         = "eks-firehose"
	LayoutCloudWatchExport = "eks-cloudwatch-export"
	LayoutDated            = "dated"
)

// Stats count one Source's work. Bytes are as stored (compressed).
type Stats struct {
	ListCalls      int64 `json:"listCalls"`
	Listed         int64 `json:"listed"`
	Ignored        int64 `json:"ignored"`
	PrunedPrefixes int64 `json:"prunedPrefixes"`
	Pruned         int64 `json:"prunedByTime"`
	FromCache      int64 `json:"fromCache"`
	CachedBytes    int64 `json:"cachedBytes"`
	Downloaded     int64 `json:"downloaded"`
	Bytes          int64 `json:"bytes"`
	Retries        int64 `json:"retries"`
	// Records is how many envelope records (CloudWatch Logs batches in
	// Firehose objects) were unwrapped, Unwrapped how many events they
	// held, Control how many CONTROL_MESSAGE records were dropped.
	Records   int64 `json:"records"`
	Unwrapped int64 `json:"unwrapped"`
	Control   int64 `json:"controlMessages"`
}

// String is the one-line summary of a run.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "listed %d objects, %d pruned by time", s.Listed, s.Pruned)
	if s.PrunedPrefixes > 0 {
		fmt.Fprintf(&b, " (and %d prefixes not listed)", s.PrunedPrefixes)
	}
	fmt.Fprintf(&b, ", %d from cache, %d downloaded (%s)", s.FromCache, s.Downloaded, humanBytes(s.Bytes))
	if s.Retries > 0 {
		fmt.Fprintf(&b, ", %d retries", s.Retries)
	}
	if s.Records > 0 || s.Control > 0 {
		fmt.Fprintf(&b, ", %d events unwrapped from %d records (%d control messages dropped)", s.Unwrapped, s.Records, s.Control)
	}
	return b.String()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

type counters struct {
	listCalls, listed, ignored, prunedPrefixes, pruned atomic.Int64
	fromCache, cachedBytes, downloaded, bytes, retries atomic.Int64
	records, unwrapped, control                        atomic.Int64
}

// Source is one bucket and prefix to read.
type Source struct {
	scheme string // s3, gs, azblob, file
	bucket string // bucket, container, or directory for file://
	prefix string
	base   string // scheme://bucket/ as messages name objects
	b      *blob.Bucket
	opts   Options
	c      counters
	mem    atomic.Int64 // bytes of downloads held in memory

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	tmpDir string
}

// Schemes lists the URL schemes Open accepts.
var Schemes = []string{"s3", "gs", "azblob", "file"}

// IsURL reports whether s names a bucket Open understands.
func IsURL(s string) bool {
	for _, sc := range Schemes {
		if strings.HasPrefix(s, sc+"://") {
			return true
		}
	}
	return false
}

// Open opens a bucket URL: s3://bucket/prefix, gs://bucket/prefix,
// azblob://container/prefix or file:///dir/prefix. Credentials come from
// each provider's standard chain (AWS environment, profile, IRSA or
// instance role; Google application default credentials; Azure
// AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or
// a connection string, else az login or a managed identity). Query
// parameters are the Go CDK's: s3 region, endpoint, use_path_style,
// profile, anonymous; azblob storage_account, domain, protocol, localemu;
// gs anonymous. Nothing is requested until Objects.
func Open(ctx context.Context, rawURL string, opts Options) (*Source, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: not a URL: %w", rawURL, err)
	}
	s := &Source{scheme: u.Scheme, opts: opts.withDefaults()}
	switch u.Scheme {
	case "s3", "gs", "azblob":
		if u.Host == "" {
			return nil, fmt.Errorf("%s: no bucket name (want %s://BUCKET/PREFIX)", rawURL, u.Scheme)
		}
		s.bucket = u.Host
		s.prefix = strings.TrimPrefix(u.Path, "/")
		s.base = u.Scheme + "://" + u.Host + "/"
	case "file":
		p := u.Path
		if u.Host != "" && u.Host != "localhost" {
			p = u.Host + u.Path // file://relative/dir
		}
		if p == "" {
			return nil, fmt.Errorf("%s: no path", rawURL)
		}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			s.bucket, s.prefix = p, ""
		} else {
			s.bucket, s.prefix = filepath.Dir(p), filepath.Base(p)
			if strings.HasSuffix(p, "/") {
				s.bucket, s.prefix = p, ""
			}
		}
		if _, err := os.Stat(s.bucket); err != nil {
			return nil, fmt.Errorf("%s: %w", rawURL, err)
		}
		s.base = "file://" + strings.TrimSuffix(s.bucket, "/") + "/"
	default:
		return nil, fmt.Errorf("%s: unknown scheme %q (want one of s3, gs, azblob, file)", rawURL, u.Scheme)
	}
	q := u.Query()
	switch u.Scheme {
	case "s3":
		s.b, err = openS3(ctx, s.bucket, q)
	case "azblob":
		// A fresh opener reads the environment now: the Go CDK's default
		// one keeps what it read first, for the life of the process.
		o := &azureblob.URLOpener{MakeClient: azureblob.NewDefaultClient, ServiceURLOptions: *azureblob.NewDefaultServiceURLOptions()}
		s.b, err = o.OpenBucketURL(ctx, &url.URL{Scheme: "azblob", Host: s.bucket, RawQuery: q.Encode()})
	case "gs":
		s.b, err = openGCS(ctx, s.bucket, q)
	case "file":
		s.b, err = fileblob.OpenBucket(s.bucket, nil)
	}
	if err != nil {
		return nil, s.classify(err, "open", "")
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// openS3 builds the client itself, to keep the SDK's log off stderr (it
// warns on every multipart object whose checksum it cannot validate).
// Query parameters as the Go CDK's: region, profile, endpoint,
// use_path_style, anonymous.
func openS3(ctx context.Context, bucket string, q url.Values) (*blob.Bucket, error) {
	lo := []func(*config.LoadOptions) error{config.WithLogger(logging.Nop{})}
	var so []func(*s3.Options)
	for k := range q {
		v := q.Get(k)
		switch k {
		case "region":
			lo = append(lo, config.WithRegion(v))
		case "profile":
			lo = append(lo, config.WithSharedConfigProfile(v))
		case "endpoint":
			so = append(so, func(o *s3.Options) { o.BaseEndpoint = aws.String(v) })
		case "use_path_style", "s3ForcePathStyle":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: want true or false", k, v)
			}
			so = append(so, func(o *s3.Options) { o.UsePathStyle = b })
		case "anonymous":
			if v == "true" {
				lo = append(lo, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
			}
		default:
			return nil, fmt.Errorf("unknown query parameter %q (s3:// takes region, profile, endpoint, use_path_style, anonymous)", k)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set AWS_REGION (the bucket's region), or add ?region= to the URL")
	}
	return s3blob.OpenBucket(ctx, s3.NewFromConfig(cfg, so...), bucket, nil)
}

// openGCS builds the client itself: the Go CDK's URL opener prints a
// warning on stdout when there are no default credentials, and the error
// here can say what to do.
func openGCS(ctx context.Context, bucket string, q url.Values) (*blob.Bucket, error) {
	var client *gcp.HTTPClient
	switch {
	case os.Getenv("STORAGE_EMULATOR_HOST") != "":
		// gcsblob talks to the emulator without authentication.
		client = gcp.NewAnonymousHTTPClient(gcp.DefaultTransport())
	case q.Get("anonymous") == "true":
		client = gcp.NewAnonymousHTTPClient(gcp.DefaultTransport())
	default:
		creds, err := gcp.DefaultCredentials(ctx)
		if err != nil {
			return nil, &credentialsError{err}
		}
		client, err = gcp.NewHTTPClient(gcp.DefaultTransport(), gcp.CredentialsTokenSource(creds))
		if err != nil {
			return nil, err
		}
	}
	for k := range q {
		if k != "anonymous" {
			return nil, fmt.Errorf("unknown query parameter %q (gs:// takes anonymous=true)", k)
		}
	}
	return gcsblob.OpenBucket(ctx, client, bucket, nil)
}

// credentialsError marks a failure to find credentials at all.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string { return e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// URL is the bucket and prefix, as messages name it.
func (s *Source) URL() string { return s.base + s.prefix }

// Stats returns the counters so far.
func (s *Source) Stats() Stats {
	c := &s.c
	return Stats{
		ListCalls: c.listCalls.Load(), Listed: c.listed.Load(), Ignored: c.ignored.Load(),
		PrunedPrefixes: c.prunedPrefixes.Load(), Pruned: c.pruned.Load(),
		FromCache: c.fromCache.Load(), CachedBytes: c.cachedBytes.Load(),
		Downloaded: c.downloaded.Load(), Bytes: c.bytes.Load(), Retries: c.retries.Load(),
		Records: c.records.Load(), Unwrapped: c.unwrapped.Load(), Control: c.control.Load(),
	}
}

// Close stops downloads in flight, removes staged objects (not the cache)
// and closes the bucket.
func (s *Source) Close() error {
	s.cancel()
	s.mu.Lock()
	dir := s.tmpDir
	s.tmpDir = ""
	s.mu.Unlock()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	return s.b.Close()
}

// stagingDir is where objects are downloaded: the cache, or a temporary
// directory of this Source.
func (s *Source) stagingDir() (string, error) {
	if s.opts.CacheDir != "" {
		d := filepath.Join(s.opts.CacheDir, "tmp")
		return d, os.MkdirAll(d, 0o755)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tmpDir == "" {
		d, err := os.MkdirTemp("", "kubectl-audit-bucket-")
		if err != nil {
			return "", err
		}
		s.tmpDir = d
	}
	return s.tmpDir, nil
}

// Objects lists the objects under the prefix that may hold events in
// [since, until) (a zero bound is open), oldest first. Date directories
// (2026/11/25/05, y=2026/m=11/..., year=2026/...) outside the range are
// not listed at all; objects whose key names a period outside it, or
// that were last written before since, are pruned before any download.
func (s *Source) Objects(ctx context.Context, since, until time.Time) ([]Object, error) {
	w := walker{s: s, since: since, until: until}
	if err := w.walk(ctx, s.prefix, dateCtx{}, 0); err != nil {
		return nil, err
	}
	found := w.found
	sort.SliceStable(found, func(i, j int) bool {
		a, b := found[i].sortTime, found[j].sortTime
		if !a.Equal(b) {
			return a.Before(b)
		}
		return found[i].key < found[j].key
	})
	f := newFetcher(s, found)
	objs := make([]Object, len(found))
	for i, e := range found {
		objs[i] = Object{
			Name: s.base + e.key, Key: e.key, Time: e.start, Layout: e.layout, Size: e.size, Version: e.version, Stream: streamOf(e.key, e.layout),
			Open: func() (io.ReadCloser, error) { return f.open(i) },
		}
	}
	return objs, nil
}

// entry is a listed object kept for reading.
type entry struct {
	key        string
	size       int64
	version    string
	start, end time.Time // period the key names; zero when none
	modTime    time.Time
	sortTime   time.Time
	layout     string
}

type walker struct {
	s            *Source
	since, until time.Time
	found        []entry
}

// maxUndatedDirs is how many non-date directories one level may have
// before its subtree is listed flat: walking export tasks' stream folders
// one request each would cost more than a flat listing.
const maxUndatedDirs = 64

func (w *walker) walk(ctx context.Context, prefix string, dc dateCtx, depth int) error {
	var dirs []string
	var dirCtx []dateCtx
	undated := 0
	err := w.list(ctx, prefix, "/", func(o *blob.ListObject) {
		if !o.IsDir {
			w.file(o, dc)
			return
		}
		seg := strings.TrimSuffix(o.Key[strings.LastIndexByte(strings.TrimSuffix(o.Key, "/"), '/')+1:], "/")
		nd, dated := dc.next(seg)
		if dated {
			if !w.overlaps(nd.start, nd.end) {
				w.s.c.prunedPrefixes.Add(1)
				return
			}
		} else {
			undated++
		}
		dirs = append(dirs, o.Key)
		dirCtx = append(dirCtx, nd)
	})
	if err != nil {
		return err
	}
	if undated > maxUndatedDirs || depth > 32 {
		for i, d := range dirs {
			if err := w.list(ctx, d, "", func(o *blob.ListObject) { w.file(o, dirCtx[i]) }); err != nil {
				return err
			}
		}
		return nil
	}
	for i, d := range dirs {
		if err := w.walk(ctx, d, dirCtx[i], depth+1); err != nil {
			return err
		}
	}
	return nil
}

// list pages through one prefix, retrying transient errors.
func (w *walker) list(ctx context.Context, prefix, delim string, each func(*blob.ListObject)) error {
	token := blob.FirstPageToken
	for {
		var page []*blob.ListObject
		var next []byte
		err := w.s.retry(ctx, func() error {
			w.s.c.listCalls.Add(1)
			var err error
			page, next, err = w.s.b.ListPage(ctx, token, 1000, &blob.ListOptions{Prefix: prefix, Delimiter: delim})
			return err
		})
		if err != nil {
			return w.s.classify(err, "list", prefix)
		}
		for _, o := range page {
			each(o)
		}
		if len(next) == 0 {
			return nil
		}
		token = next
	}
}

func (w *walker) overlaps(start, end time.Time) bool {
	slack := w.s.opts.Slack
	if !w.since.IsZero() && !end.Add(slack).After(w.since) {
		return false
	}
	if !w.until.IsZero() && !start.Add(-slack).Before(w.until) {
		return false
	}
	return true
}

func (w *walker) file(o *blob.ListObject, dc dateCtx) {
	base := o.Key[strings.LastIndexByte(o.Key, '/')+1:]
	if base == "" || base == "aws-logs-write-test" || (w.s.scheme == "file" && strings.HasPrefix(base, ".")) {
		// Folder markers, and the object CloudWatch Logs writes to check
		// it may write to the bucket before an export.
		w.s.c.ignored.Add(1)
		return
	}
	w.s.c.listed.Add(1)
	e := entry{key: o.Key, size: o.Size, modTime: o.ModTime, version: version(o)}
	e.start, e.end, e.layout = keyTime(o.Key)
	if e.layout == "" && !dc.start.IsZero() {
		e.start, e.end, e.layout = dc.start, dc.end, LayoutDated
	}
	if e.layout == "" && strings.HasSuffix(base, ".gz") && exportChunk.MatchString(base) {
		e.layout = LayoutCloudWatchExport
	}
	// An object last written before since holds nothing newer.
	if !w.since.IsZero() && !o.ModTime.IsZero() && o.ModTime.Add(w.s.opts.Slack).Before(w.since) {
		w.s.c.pruned.Add(1)
		return
	}
	if !e.start.IsZero() && !w.overlaps(e.start, e.end) {
		w.s.c.pruned.Add(1)
		return
	}
	e.sortTime = e.start
	if e.sortTime.IsZero() {
		e.sortTime = e.modTime
	}
	w.found = append(w.found, e)
}

// version identifies an object's content for the cache: the ETag (S3,
// Azure), the generation (GCS), else size and modification time.
func version(o *blob.ListObject) string {
	var s3o s3types.Object
	if o.As(&s3o) && s3o.ETag != nil {
		return "etag:" + *s3o.ETag
	}
	var az container.BlobItem
	if o.As(&az) && az.Properties != nil && az.Properties.ETag != nil {
		return "etag:" + string(*az.Properties.ETag)
	}
	var g storage.ObjectAttrs
	if o.As(&g) && g.Generation != 0 {
		return fmt.Sprintf("generation:%d", g.Generation)
	}
	return fmt.Sprintf("size:%d,mtime:%d,md5:%x", o.Size, o.ModTime.UnixNano(), o.MD5)
}

// retry runs fn until it succeeds, fails for good, or Attempts are spent,
// sleeping Backoff, doubled each time up to 10s, between attempts.
func (s *Source) retry(ctx context.Context, fn func() error) error {
	delay := s.opts.Backoff
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt >= s.opts.Attempts || !transient(ctx, err) {
			return err
		}
		s.c.retries.Add(1)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 10*time.Second)
	}
}
