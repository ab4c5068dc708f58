package bucket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// backend is one provider layout in one (emulated) store.
type backend struct {
	name     string
	objects  func(testing.TB, []hourChunk) map[string][]byte
	prunable bool // keys name their hour
	// setup starts the store, creates the bucket and returns the URL of
	// the prefix through addr (the emulator's or a proxy's), and the
	// emulator's address.
	setup    func(t *testing.T) (url func(addr string) string, emu *emulator)
	isObject func(r *http.Request) bool
	// libResumes: the provider's client library resumes cut downloads
	// itself (cloud.google.com/go/storage does), so they never reach ours.
	libResumes bool
}

func s3Backend(name, prefix string, objects func(testing.TB, []hourChunk) map[string][]byte, prunable bool) backend {
	return backend{name: name, objects: objects, prunable: prunable,
		setup: func(t *testing.T) (func(string) string, *emulator) {
			e := moto(t)
			return func(addr string) string {
				return fmt.Sprintf("s3://eks-audit/%s?endpoint=http://%s&use_path_style=true&region=us-east-1", prefix, addr)
			}, e
		},
		isObject: func(r *http.Request) bool { return r.URL.Query().Get("x-id") == "GetObject" },
	}
}

var backends = []backend{
	{name: "aks-azurite", objects: aksObjects, prunable: true,
		setup: func(t *testing.T) (func(string) string, *emulator) {
			e := azurite(t)
			t.Setenv("AZURE_STORAGE_ACCOUNT", azuriteAccount)
			t.Setenv("AZURE_STORAGE_KEY", azuriteKey)
			return func(addr string) string {
				return "azblob://insights-logs-kube-audit/?protocol=http&domain=" + addr
			}, e
		},
		isObject: func(r *http.Request) bool {
			return r.URL.Query().Get("comp") == "" && r.URL.Query().Get("restype") == ""
		},
	},
	{name: "gke-fake-gcs", objects: gkeObjects, prunable: true,
		setup: func(t *testing.T) (func(string) string, *emulator) {
			e := fakeGCS(t)
			return func(addr string) string {
				t.Setenv("STORAGE_EMULATOR_HOST", addr)
				return "gs://gke-audit-sink/cloudaudit.googleapis.com/activity/"
			}, e
		},
		isObject: func(r *http.Request) bool {
			return !strings.HasPrefix(r.URL.Path, "/storage/v1/") || r.URL.Query().Get("alt") == "media"
		},
		libResumes: true,
	},
	s3Backend("eks-firehose-moto", "firehose/", firehoseObjects, true),
	s3Backend("eks-export-moto", "export/", exportObjects, false),
	{name: "eks-firehose-file", objects: firehoseObjects, prunable: true,
		setup: func(t *testing.T) (func(string) string, *emulator) {
			dir := filepath.Join(fileRoot, "firehose")
			return func(string) string { return "file://" + dir + "/" }, nil
		},
	},
}

var fileRoot string

func init() {
	d, err := os.MkdirTemp("", "kubectl-audit-filebucket-")
	if err == nil {
		fileRoot = d
	}
}

// upload creates the bucket behind u and writes objs (full keys) into it.
func upload(t *testing.T, u string, objs map[string][]byte) { uploadTB(t, u, objs) }

func uploadTB(t testing.TB, u string, objs map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	if strings.HasPrefix(u, "file://") {
		dir := strings.TrimPrefix(u, "file://")
		for k, v := range objs {
			p := filepath.Join(dir, filepath.FromSlash(k))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, v, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	s, err := Open(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	var s3c *s3.Client
	var azc *container.Client
	var gcs *storage.Client
	switch {
	case s.b.As(&s3c):
		_, err = s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)})
	case s.b.As(&azc):
		_, err = azc.Create(ctx, nil)
	case s.b.As(&gcs):
		err = gcs.Bucket(s.bucket).Create(ctx, "prod-project", nil)
	}
	if err != nil && !strings.Contains(err.Error(), "Already") && !strings.Contains(err.Error(), "already") && !strings.Contains(err.Error(), "409") {
		t.Fatalf("creating the bucket: %v", err)
	}
	keys := make([]string, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := s.b.WriteAll(ctx, k, objs[k], nil); err != nil {
			t.Fatalf("writing %s: %v", k, err)
		}
	}
}

type run struct {
	objs  []Object
	data  []byte
	stats Stats
}

// readAll lists and reads a Source as the audit reader does: objects in
// order, one at a time.
func readAll(t *testing.T, u string, opts Options, since, until time.Time) run {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, u, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	objs, err := s.Objects(ctx, since, until)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, o := range objs {
		rc, err := o.Open()
		if err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			data = append(data, '\n')
		}
	}
	return run{objs: objs, data: data, stats: s.Stats()}
}

func TestProviders(t *testing.T) {
	chunks := recorded(t)
	all := idsOfChunks(t, chunks)
	since, until := baseHour.Add(150*time.Minute), baseHour.Add(210*time.Minute)
	inRange := idsOfChunks(t, chunks[2:4])
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			urlFor, emu := bk.setup(t)
			addr := ""
			if emu != nil {
				addr = emu.addr
			}
			u := urlFor(addr)
			objs := bk.objects(t, chunks)
			upload(t, u, objs)
			stored := 0
			for k := range objs {
				if !strings.HasSuffix(k, "aws-logs-write-test") {
					stored++
				}
			}
			opts := Options{CacheDir: t.TempDir(), Backoff: 10 * time.Millisecond}
			if bk.name == "eks-firehose-moto" {
				// Staged on disk only, without a cache.
				if r := readAll(t, u, Options{Memory: -1}, time.Time{}, time.Time{}); !slices.Equal(idsOf(t, r.data), all) {
					t.Fatal("downloads staged on disk delivered other events")
				}
			}

			mark := 0
			if emu != nil {
				mark = emu.log.mark()
			}
			first := readAll(t, u, opts, time.Time{}, time.Time{})
			if got := idsOf(t, first.data); !slices.Equal(got, all) {
				t.Fatalf("delivered %d events, want the %d of the plain file in its order (first difference at %d)", len(got), len(all), firstDiff(got, all))
			}
			st := first.stats
			if st.Listed != int64(stored) || st.Downloaded != int64(stored) || st.FromCache != 0 || st.Pruned != 0 {
				t.Errorf("first run: %+v, want %d listed and downloaded", st, stored)
			}
			if emu != nil && strings.Contains(u, "s3://") {
				if n := countLines(emu.log.since(mark), "GET /eks-audit/", "x-id=GetObject"); n != stored {
					t.Errorf("moto served %d GetObject requests, want %d", n, stored)
				}
			}
			t.Logf("first run: %s", st)

			if emu != nil {
				mark = emu.log.mark()
			}
			second := readAll(t, u, opts, time.Time{}, time.Time{})
			if !slices.Equal(idsOf(t, second.data), all) {
				t.Fatal("second run delivered other events")
			}
			if st := second.stats; st.Downloaded != 0 || st.FromCache != int64(stored) || st.Bytes != 0 {
				t.Errorf("second run: %+v, want everything from the cache", st)
			}
			if emu != nil && strings.Contains(u, "s3://") {
				if n := countLines(emu.log.since(mark), "x-id=GetObject"); n != 0 {
					t.Errorf("second run: moto served %d GetObject requests, want 0", n)
				}
			}

			if !bk.prunable {
				pr := readAll(t, u, Options{CacheDir: t.TempDir()}, since, until)
				if pr.stats.Pruned != 0 || pr.stats.Downloaded != int64(stored) {
					t.Errorf("keys without times: %+v, want nothing pruned", pr.stats)
				}
				return
			}
			if emu != nil {
				mark = emu.log.mark()
			}
			pr := readAll(t, u, Options{CacheDir: t.TempDir()}, since, until)
			if got := idsOf(t, pr.data); !slices.Equal(got, inRange) {
				t.Fatalf("--since/--until: delivered %d events, want the %d of hours 2 and 3", len(got), len(inRange))
			}
			want := 0
			for _, o := range pr.objs {
				h := o.Time.Add(firehoseBuffer).Truncate(time.Hour) // Firehose windows start 15m early
				if h.Before(baseHour.Add(2*time.Hour)) || !h.Before(baseHour.Add(4*time.Hour)) {
					t.Errorf("read %s (%s), outside the range", o.Name, o.Time)
				}
				want++
			}
			if st := pr.stats; st.Downloaded != int64(want) || st.Downloaded >= int64(stored)/2 || st.Pruned+st.PrunedPrefixes == 0 {
				t.Errorf("pruned run: %+v, want %d downloads (of %d objects) and prefixes or objects pruned", st, want, stored)
			}
			if emu != nil && strings.Contains(u, "s3://") {
				log := emu.log.since(mark)
				if n := countLines(log, "x-id=GetObject"); n != want {
					t.Errorf("pruned run: moto served %d GetObject requests, want %d", n, want)
				}
				for _, h := range []string{"%2F05%2F", "%2F06%2F", "%2F09%2F", "%2F10%2F"} {
					if n := countLines(log, "list-type=2", "prefix=firehose%2F2026%2F11%2F25"+h); n != 0 {
						t.Errorf("pruned run listed hour %s", h)
					}
				}
			}
			t.Logf("pruned run: %s", pr.stats)

			if bk.isObject != nil {
				testCutDownloads(t, bk, urlFor, emu, all)
			}
		})
	}
}

// testCutDownloads reads through a proxy that cuts object downloads in
// half: once (the download resumes) and always (a truncated object error
// naming the key, the bytes before it delivered).
func testCutDownloads(t *testing.T, bk backend, urlFor func(string) string, emu *emulator, all []string) {
	p := newFaultProxy(t, emu.addr, bk.isObject)
	u := urlFor(p.addr)
	p.setCuts(3)
	// A memory budget smaller than the objects: downloads spill to files
	// part way, and resume across both.
	r := readAll(t, u, Options{Backoff: time.Millisecond, Memory: 300 << 10}, time.Time{}, time.Time{})
	if !slices.Equal(idsOf(t, r.data), all) {
		t.Fatal("downloads cut and resumed delivered other events")
	}
	if p.cutCount() != 3 || r.stats.Retries < 3 && !bk.libResumes {
		t.Errorf("cut %d downloads, %d retries; want 3 and 3", p.cutCount(), r.stats.Retries)
	}
	if bk.libResumes {
		t.Logf("%s: the client library resumed the 3 cut downloads itself; the truncated-download error is tested on the others", bk.name)
		return
	}

	p.setCuts(-1)
	ctx := context.Background()
	s, err := Open(ctx, u, Options{Backoff: time.Millisecond, Attempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	objs, err := s.Objects(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := objs[0].Open()
	var data []byte
	if err == nil {
		data, err = io.ReadAll(rc)
		_ = rc.Close()
	}
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), objs[0].Key) {
		t.Fatalf("always cut: %v, want a truncated object error naming %s", err, objs[0].Key)
	}
	t.Logf("always cut: %v (%d bytes delivered before it)", err, len(data))
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestTruncatedObjects: objects stored truncated (a cut gzip stream) are
// read up to the damage, then fail naming the key.
func TestTruncatedObjects(t *testing.T) {
	chunks := recorded(t)[:1]
	e := moto(t)
	for name, objs := range map[string]map[string][]byte{
		"firehose": firehoseObjects(t, chunks),
		"export":   exportObjects(t, chunks),
	} {
		t.Run(name, func(t *testing.T) {
			cut := map[string][]byte{}
			for k, v := range objs {
				if strings.HasSuffix(k, "aws-logs-write-test") {
					continue
				}
				cut["damaged-"+name+"/"+k] = v[:len(v)*2/3]
				break
			}
			u := fmt.Sprintf("s3://eks-audit/damaged-%s/?endpoint=http://%s&use_path_style=true", name, e.addr)
			upload(t, strings.Replace(u, "damaged-"+name+"/", "", 1), cut)
			ctx := context.Background()
			s, err := Open(ctx, u, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			list, err := s.Objects(ctx, time.Time{}, time.Time{})
			if err != nil || len(list) != 1 {
				t.Fatalf("%v, %d objects", err, len(list))
			}
			rc, err := list[0].Open()
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			_ = rc.Close()
			// The reader drops the partial line the damage cut, as here.
			data = data[:bytes.LastIndexByte(data, '\n')+1]
			if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), list[0].Key) || !strings.Contains(err.Error(), "truncated gzip") {
				t.Fatalf("%v, want a truncated gzip stream error naming %s", err, list[0].Key)
			}
			if n := len(idsOf(t, data)); n == 0 {
				t.Error("no events before the damage")
			}
			t.Logf("%v (%d events before it)", err, len(idsOf(t, data)))
		})
	}
}

// TestErrors: what the user is told when the bucket is missing, the
// credentials are, or they are not allowed to read.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	type tc struct {
		name  string
		setup func(t *testing.T) string
		kind  error
		want  []string
		get   bool // fails on reading an object, not on listing
	}
	cases := []tc{
		{name: "s3 bucket not found", kind: ErrNotFound, want: []string{"bucket no-such-bucket not found", "region"},
			setup: func(t *testing.T) string {
				return fmt.Sprintf("s3://no-such-bucket/x/?endpoint=http://%s&use_path_style=true", moto(t).addr)
			}},
		{name: "s3 no credentials", kind: ErrNoCredentials, want: []string{"no credentials found", "AWS_ACCESS_KEY_ID"},
			setup: func(t *testing.T) string {
				t.Setenv("AWS_ACCESS_KEY_ID", "")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "")
				return fmt.Sprintf("s3://eks-audit/x/?endpoint=http://%s&use_path_style=true", moto(t).addr)
			}},
		{name: "s3 list denied", kind: ErrAccessDenied, want: []string{"access denied listing", "s3:ListBucket on arn:aws:s3:::eks-audit"},
			setup: func(t *testing.T) string { return s3Denied(t, true) }},
		{name: "s3 get denied", kind: ErrAccessDenied, get: true, want: []string{"access denied reading", "s3:GetObject on arn:aws:s3:::eks-audit/denied/"},
			setup: func(t *testing.T) string { return s3Denied(t, false) }},
		{name: "azblob container not found", kind: ErrNotFound, want: []string{"container no-such-container not found", "AZURE_STORAGE_ACCOUNT"},
			setup: func(t *testing.T) string {
				e := azurite(t)
				t.Setenv("AZURE_STORAGE_ACCOUNT", azuriteAccount)
				t.Setenv("AZURE_STORAGE_KEY", azuriteKey)
				return "azblob://no-such-container/?protocol=http&domain=" + e.addr
			}},
		{name: "azblob list denied", kind: ErrAccessDenied, want: []string{"access denied listing", "Storage Blob Data Reader"},
			setup: func(t *testing.T) string { return azuriteReadOnlySAS(t) }},
		{name: "gs bucket not found", kind: ErrNotFound, want: []string{"bucket no-such-bucket not found"},
			setup: func(t *testing.T) string {
				t.Setenv("STORAGE_EMULATOR_HOST", fakeGCS(t).addr)
				return "gs://no-such-bucket/x/"
			}},
		{name: "gs no credentials", kind: ErrNoCredentials, want: []string{"no credentials found", "gcloud auth application-default login"},
			setup: func(t *testing.T) string {
				t.Setenv("STORAGE_EMULATOR_HOST", "")
				t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "missing.json"))
				return "gs://gke-audit-sink/x/"
			}},
		{name: "gs list denied", kind: ErrAccessDenied, want: []string{"access denied listing", "roles/storage.objectViewer"},
			setup: func(t *testing.T) string {
				// fake-gcs-server checks no permissions: this server answers
				// as Cloud Storage does to an account without them.
				srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusForbidden)
					_, _ = io.WriteString(w, `{"error":{"code":403,"message":"reader@prod-project.iam.gserviceaccount.com does not have storage.objects.list access to the Google Cloud Storage bucket.","errors":[{"message":"denied","domain":"global","reason":"forbidden"}]}}`)
				})}
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				go func() { _ = srv.Serve(l) }()
				t.Cleanup(func() { _ = srv.Close() })
				t.Setenv("STORAGE_EMULATOR_HOST", l.Addr().String())
				return "gs://gke-audit-sink/x/"
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.setup(t)
			s, err := Open(ctx, u, Options{Attempts: 2, Backoff: time.Millisecond})
			if err == nil {
				defer func() { _ = s.Close() }()
				var objs []Object
				objs, err = s.Objects(ctx, time.Time{}, time.Time{})
				if c.get {
					if err != nil {
						t.Fatalf("listing: %v", err)
					}
					if len(objs) == 0 {
						t.Fatal("nothing listed")
					}
					var rc io.ReadCloser
					if rc, err = objs[0].Open(); err == nil {
						_, err = io.ReadAll(rc)
						_ = rc.Close()
					}
				}
			}
			if !errors.Is(err, c.kind) {
				t.Fatalf("%v, want %v", err, c.kind)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			t.Log(err)
		})
	}
}

// s3Denied returns the URL of s3://eks-audit/denied/ on a server that
// answers as S3 does to credentials without s3:ListBucket (listDenied) or
// without s3:GetObject. moto's IAM enforcement (POST /moto-api/reset-auth)
// rejects the Go SDK's S3 signatures as SignatureDoesNotMatch before it
// evaluates any policy, so it cannot stand in here; it does for
// CloudWatch Logs (sources/cloudwatch).
func s3Denied(t *testing.T, listDenied bool) string {
	denied := `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/reader is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::eks-audit" because no identity-based policy allows the s3:ListBucket action</Message><RequestId>9J4ZK2</RequestId></Error>`
	listing := `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>eks-audit</Name><Prefix>denied/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>false</IsTruncated><Contents><Key>denied/x.json</Key><LastModified>2026-11-25T06:00:00.000Z</LastModified><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>16</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>`
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		if r.URL.Query().Get("list-type") != "" && !listDenied {
			_, _ = io.WriteString(w, listing)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, denied)
		}
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("s3://eks-audit/denied/?endpoint=http://%s&use_path_style=true", l.Addr())
}
