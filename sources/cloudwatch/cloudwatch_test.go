package cloudwatch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// The tests run against moto_server (Python package moto), started here
// and stopped by TestMain. Absent, they fail saying how to install it,
// unless KUBECTL_AUDIT_SKIP_EMULATORS=1 (then they are skipped, saying so).

var (
	motoOnce sync.Once
	motoAddr string
	motoErr  error
	motoCmd  *exec.Cmd
)

func TestMain(m *testing.M) {
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
	} {
		_ = os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"} {
		_ = os.Unsetenv(k)
	}
	code := m.Run()
	if motoCmd != nil && motoCmd.Process != nil {
		signalGroup(motoCmd.Process, false)
		done := make(chan struct{})
		go func() { _ = motoCmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			signalGroup(motoCmd.Process, true)
		}
	}
	os.Exit(code)
}

func moto(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("KUBECTL_AUDIT_MOTO")
	if bin == "" {
		bin, _ = exec.LookPath("moto_server")
	}
	if bin == "" {
		if os.Getenv("KUBECTL_AUDIT_SKIP_EMULATORS") == "1" {
			t.Skip("moto_server not installed: skipped because KUBECTL_AUDIT_SKIP_EMULATORS=1 (install with pip install 'moto[server]')")
		}
		t.Fatal("moto_server not found: install it with pip install 'moto[server]' (hack/emulators.sh says so too), or set KUBECTL_AUDIT_SKIP_EMULATORS=1 to skip")
	}
	motoOnce.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			motoErr = err
			return
		}
		motoAddr = l.Addr().String()
		_ = l.Close()
		h, p, _ := net.SplitHostPort(motoAddr)
		motoCmd = exec.Command(bin, "-H", h, "-p", p)
		newProcessGroup(motoCmd)
		var out bytes.Buffer
		motoCmd.Stdout, motoCmd.Stderr = &out, &out
		if motoErr = motoCmd.Start(); motoErr != nil {
			return
		}
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if resp, err := http.Get("http://" + motoAddr + "/moto-api/data.json"); err == nil {
				_ = resp.Body.Close()
				return
			}
		}
		motoErr = fmt.Errorf("moto_server did not answer on %s within 60s", motoAddr)
	})
	if motoErr != nil {
		t.Fatal(motoErr)
	}
	return motoAddr
}

func client(t testing.TB, addr string) *cloudwatchlogs.Client {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String("http://" + addr) })
}

var tsField = regexp.MustCompile(`"(requestReceivedTimestamp|stageTimestamp)":"([^"]+)"`)

type line struct {
	text string
	at   time.Time
	id   string
}

// recorded returns the events a real kube-apiserver wrote
// (examples/audit.log.gz), moved to end an hour ago: CloudWatch Logs (and
// moto) refuse events older than 14 days.
func recorded(t testing.TB) []line {
	f, err := os.Open("../../examples/audit.log.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	shift := time.Now().Add(-time.Hour).Truncate(time.Minute).Sub(time.Date(2026, 11, 25, 5, 44, 0, 0, time.UTC))
	var out []line
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var at time.Time
		text := tsField.ReplaceAllStringFunc(sc.Text(), func(m string) string {
			sub := tsField.FindStringSubmatch(m)
			ts, err := time.Parse(time.RFC3339Nano, sub[2])
			if err != nil {
				t.Fatal(err)
			}
			ts = ts.Add(shift)
			if sub[1] == "requestReceivedTimestamp" {
				at = ts
			}
			return fmt.Sprintf(`"%s":"%s"`, sub[1], ts.Format(time.RFC3339Nano))
		})
		var v struct{ AuditID string }
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, line{text: text, at: at, id: v.AuditID})
	}
	if len(out) != 1625 {
		t.Fatalf("%d lines, want the 1625 recorded", len(out))
	}
	return out
}

var groupSeq int

// putGroup creates a log group with the given streams of lines, as EKS
// writes them (one stream per API server instance, the event's time as
// the log event's).
func putGroup(t testing.TB, addr string, streams map[string][]line) string {
	ctx := context.Background()
	c := client(t, addr)
	groupSeq++
	group := fmt.Sprintf("/aws/eks/eks-prod-%d/cluster", groupSeq)
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	for name, lines := range streams {
		if _, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		sorted := slices.Clone(lines)
		slices.SortStableFunc(sorted, func(a, b line) int { return a.at.Compare(b.at) })
		for k := 0; k < len(sorted); k += 200 {
			var evs []types.InputLogEvent
			for _, l := range sorted[k:min(k+200, len(sorted))] {
				evs = append(evs, types.InputLogEvent{Message: aws.String(l.text), Timestamp: aws.Int64(l.at.UnixMilli())})
			}
			out, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: aws.String(name), LogEvents: evs})
			if err != nil {
				t.Fatal(err)
			}
			if out.RejectedLogEventsInfo != nil {
				t.Fatalf("moto rejected events: %+v", out.RejectedLogEventsInfo)
			}
		}
	}
	return group
}

func readAll(t testing.TB, u string, opts Options, since, until time.Time) ([]string, Stats, error) {
	ctx := context.Background()
	s, err := Open(ctx, u, opts)
	if err != nil {
		return nil, Stats{}, err
	}
	defer func() { _ = s.Close() }()
	objs, err := s.Objects(ctx, since, until)
	if err != nil {
		return nil, s.Stats(), err
	}
	var ids []string
	for _, o := range objs {
		rc, err := o.Open()
		if err != nil {
			return ids, s.Stats(), err
		}
		b, err := io.ReadAll(rc)
		_ = rc.Close()
		for l := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			if l == "" {
				continue
			}
			var v struct{ AuditID string }
			if jerr := json.Unmarshal([]byte(l), &v); jerr != nil || v.AuditID == "" {
				t.Fatalf("%s: not an audit event: %.200s", o.Name, l)
			}
			ids = append(ids, v.AuditID)
		}
		if err != nil {
			return ids, s.Stats(), err
		}
	}
	return ids, s.Stats(), nil
}

func TestRead(t *testing.T) {
	addr := moto(t)
	lines := recorded(t)
	half := len(lines) / 2
	// Two API servers, and a third stream whose events all come later.
	late := make([]line, 50)
	for i := range late {
		late[i] = lines[i]
		late[i].at = time.Now().Add(-10 * time.Minute)
	}
	group := putGroup(t, addr, map[string][]line{
		"kube-apiserver-audit-0a1b2c3d4e5f": lines[:half],
		"kube-apiserver-audit-f5e4d3c2b1a0": lines[half:],
		"kube-apiserver-audit-9e8d7c6b5a4f": late,
		"kube-apiserver-0a1b2c3d4e5f":       lines[:10], // not an audit stream
	})
	u := fmt.Sprintf("cloudwatch://%s?endpoint=http://%s&region=us-east-1", group, addr)

	want := func(from, to time.Time, ls ...[]line) []string {
		var ids []string
		for _, l := range ls {
			sorted := slices.Clone(l)
			slices.SortStableFunc(sorted, func(a, b line) int { return a.at.Compare(b.at) })
			for _, x := range sorted {
				// The service compares milliseconds, both bounds included.
				ms := x.at.UnixMilli()
				if (from.IsZero() || ms >= from.UnixMilli()) && (to.IsZero() || ms <= to.UnixMilli()) {
					ids = append(ids, x.id)
				}
			}
		}
		return ids
	}
	// Lines are written as requests complete: not in requestReceivedTimestamp order.
	first, last := lines[0].at, lines[0].at
	for _, l := range lines {
		first, last = minTime(first, l.at), maxTime(last, l.at)
	}
	cases := []struct {
		name         string
		since, until time.Time
		want         []string
		streams      int64
		pruned       int64
	}{
		{name: "all", want: want(time.Time{}, time.Time{}, lines[:half], lines[half:], late), streams: 3},
		// The late stream starts after until: pruned without a request.
		{name: "until", until: last.Add(time.Millisecond), want: want(time.Time{}, time.Time{}, lines[:half], lines[half:]), streams: 3, pruned: 1},
		// FilterLogEvents gets since-Slack … until+Slack: here the window is
		// narrower than the recorded minute, minus a small slack.
		{name: "window", since: first.Add(10 * time.Second), until: first.Add(20 * time.Second),
			want:    want(first.Add(9*time.Second), first.Add(21*time.Second), lines[:half], lines[half:]),
			streams: 3, pruned: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ids, st, err := readAll(t, u, Options{PageSize: 100, Slack: time.Second, Backoff: time.Millisecond}, c.since, c.until)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, c.want) {
				t.Fatalf("delivered %d events, want %d", len(ids), len(c.want))
			}
			if st.Streams != c.streams || st.Pruned != c.pruned || st.Events != int64(len(c.want)) || st.Requests < int64(len(c.want)/100) {
				t.Errorf("stats %+v, want %d streams, %d pruned, %d events over pages of 100", st, c.streams, c.pruned, len(c.want))
			}
			t.Log(st)
		})
	}

	t.Run("throttled", func(t *testing.T) {
		p := newThrottler(t, addr, 4)
		pu := fmt.Sprintf("cloudwatch://%s?endpoint=http://%s&region=us-east-1", group, p.addr)
		ids, st, err := readAll(t, pu, Options{PageSize: 500, Backoff: time.Millisecond}, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, want(time.Time{}, time.Time{}, lines[:half], lines[half:], late)) {
			t.Fatal("throttled read delivered other events")
		}
		if st.Throttled != 4 {
			t.Errorf("%+v: want the 4 throttled requests counted", st)
		}
		t.Log(st)

		p.set(-1)
		_, _, err = readAll(t, pu, Options{Attempts: 3, Backoff: time.Millisecond}, time.Time{}, time.Time{})
		if !errors.Is(err, ErrThrottled) || !strings.Contains(err.Error(), group) || !strings.Contains(err.Error(), "still throttled after 3 attempts") {
			t.Fatalf("%v, want a throttling error naming %s", err, group)
		}
		t.Log(err)
	})
}

func TestErrors(t *testing.T) {
	addr := moto(t)
	empty := putGroup(t, addr, map[string][]line{"kube-scheduler-0a1b": nil})
	cases := []struct {
		name  string
		setup func(t *testing.T) string
		kind  error
		want  []string
	}{
		{name: "group not found", kind: ErrNotFound, want: []string{"log group /aws/eks/nope/cluster not found in us-east-1", "audit logging"},
			setup: func(*testing.T) string {
				return "cloudwatch:///aws/eks/nope/cluster?endpoint=http://" + addr
			}},
		{name: "no audit streams", kind: ErrNoStreams, want: []string{"no kube-apiserver-audit* log streams", "audit logging on"},
			setup: func(*testing.T) string { return "cloudwatch://" + empty + "?endpoint=http://" + addr }},
		{name: "no credentials", kind: ErrNoCredentials, want: []string{"no AWS credentials found", "AWS_ACCESS_KEY_ID"},
			setup: func(t *testing.T) string {
				t.Setenv("AWS_ACCESS_KEY_ID", "")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "")
				return "cloudwatch://" + empty + "?endpoint=http://" + addr
			}},
		{name: "access denied", kind: ErrAccessDenied, want: []string{"access denied calling DescribeLogStreams", "logs:FilterLogEvents", "log-group:/aws/eks/"},
			setup: func(t *testing.T) string { return deniedUser(t, addr, empty) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readAll(t, c.setup(t), Options{Attempts: 2, Backoff: time.Millisecond}, time.Time{}, time.Time{})
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

// deniedUser makes moto check IAM (POST /moto-api/reset-auth) and returns
// the group's URL for a new user without any policy.
func deniedUser(t *testing.T, addr, group string) string {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, secret := iamUser(t, cfg, addr)
	auth := func(n string) {
		resp, err := http.Post("http://"+addr+"/moto-api/reset-auth", "text/plain", strings.NewReader(n))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	auth("0")
	t.Cleanup(func() { auth("inf") })
	t.Setenv("AWS_ACCESS_KEY_ID", id)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	return "cloudwatch://" + group + "?endpoint=http://" + addr
}

// throttler answers the first n FilterLogEvents calls (all when negative)
// with ThrottlingException, as CloudWatch Logs does past its quota, and
// passes everything else to moto.
type throttler struct {
	mu   sync.Mutex
	left int
	addr string
}

func newThrottler(t *testing.T, upstream string, n int) *throttler {
	p := &throttler{left: n}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".FilterLogEvents") {
			p.mu.Lock()
			throttle := p.left != 0
			if p.left > 0 {
				p.left--
			}
			p.mu.Unlock()
			if throttle {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"__type":"ThrottlingException","message":"Rate exceeded"}`)
				return
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

func (p *throttler) set(n int) {
	p.mu.Lock()
	p.left = n
	p.mu.Unlock()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
