package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-audit/kubectl-audit/cluster"
	"github.com/kubectl-audit/kubectl-audit/detectors"
	"github.com/kubectl-audit/kubectl-audit/rules"
)

var at = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

func report(key string, phase Phase) Report {
	ws, we := at.Add(-10*time.Minute), at.Add(-5*time.Minute)
	f := detectors.Finding{Rule: "failed-authentication", Title: "Clients failing authentication", Severity: "high", Level: rules.SeverityHigh,
		Key: map[string]string{"sourceIP": "127.0.1.1", "userAgent": "kubelet/v1.37.2"}, KeyNames: []string{"sourceIP", "userAgent"},
		Count: 12, First: ws.Add(time.Second), Last: we.Add(-time.Second), WindowStart: &ws, WindowEnd: &we,
		Fingerprint: "a1b2c3d4e5f60718", Summary: "12 failed authentications from 127.0.1.1 (kubelet/v1.37.2) on /api/v1/nodes/worker-1",
		Advice: "Renew the kubelet's client certificate."}
	links := []cluster.Link{
		{Kind: "Node", Name: "worker-1", UID: "uid-node", State: cluster.StateLinked, Summary: "NotReady"},
		{Kind: "ServiceAccount", Namespace: "traefik", Name: "traefik", UID: "uid-sa", State: cluster.StateLinked},
		{Kind: "Pod", Namespace: "traefik", Name: "gone", State: cluster.StateGone},
	}
	return NewReport(key, phase, "a1b2c3d4e5f60718", f, links, at)
}

// receiver is a webhook receiver that records what it got, answering with
// the codes given, in turn, then 200.
type receiver struct {
	mu    sync.Mutex
	codes []int
	got   []*http.Request
	body  [][]byte
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rv.mu.Lock()
	rv.got = append(rv.got, r)
	rv.body = append(rv.body, b)
	code := http.StatusOK
	if len(rv.codes) > 0 {
		code, rv.codes = rv.codes[0], rv.codes[1:]
	}
	rv.mu.Unlock()
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0")
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte("answer " + http.StatusText(code)))
}

func TestWebhook(t *testing.T) {
	secret := []byte("s3cret")
	for _, tc := range []struct {
		name     string
		codes    []int
		secret   []byte
		attempts int // requests the receiver sees
		err      string
	}{
		{name: "delivered", attempts: 1},
		{name: "signed", secret: secret, attempts: 1},
		{name: "retried on 503 and 429", codes: []int{503, 429}, attempts: 3},
		{name: "409: the receiver has it", codes: []int{409}, attempts: 1},
		{name: "a 400 is not retried", codes: []int{400}, attempts: 1, err: "400 Bad Request: answer Bad Request"},
		{name: "given up after the attempts", codes: []int{500, 500, 500}, attempts: 3, err: "after 3 attempts"},
		{name: "401 says to check credentials", codes: []int{401}, attempts: 1, err: "check the URL's credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv := &receiver{codes: tc.codes}
			srv := httptest.NewServer(rv)
			defer srv.Close()
			s, err := New(Spec{Kind: KindWebhook, Target: srv.URL + "/hook"}, Options{Secret: tc.secret, Attempts: 3, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			r := report("a1b2c3d4e5f60718", PhaseNew)
			done, err := s.Deliver(context.Background(), []Report{r}, nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "webhook=http://127.0.0.1") || len(done) != 0 {
					t.Fatalf("delivered %v, err %v; want an error naming the sink and %q", done, err, tc.err)
				}
			} else if err != nil || len(done) != 1 || done[0] != r.Key {
				t.Fatalf("delivered %v, err %v", done, err)
			}
			if len(rv.got) != tc.attempts {
				t.Fatalf("%d requests, want %d", len(rv.got), tc.attempts)
			}
			for i, req := range rv.got {
				if k := req.Header.Get(HeaderIdempotencyKey); k != r.Key {
					t.Errorf("request %d: Idempotency-Key %q, want %q", i, k, r.Key)
				}
				sig := req.Header.Get(HeaderSignature)
				switch {
				case tc.secret == nil && sig != "":
					t.Errorf("unsigned sink sent a signature %q", sig)
				case tc.secret != nil && sig != Signature(secret, rv.body[i]):
					t.Errorf("signature %q does not verify", sig)
				}
				var back Report
				if err := json.Unmarshal(rv.body[i], &back); err != nil {
					t.Fatal(err)
				}
				if back.Key != r.Key || back.Finding.KeyString() != r.Finding.KeyString() || back.Finding.Level != rules.SeverityHigh || len(back.Links) != 3 {
					t.Errorf("body %s", rv.body[i])
				}
			}
		})
	}
}

func TestWebhookTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	s, _ := New(Spec{Kind: KindWebhook, Target: srv.URL}, Options{Timeout: 50 * time.Millisecond, Attempts: 2, Backoff: time.Millisecond})
	start := time.Now()
	_, err := s.Deliver(context.Background(), []Report{report("k", PhaseNew)}, nil)
	if err == nil || !strings.Contains(err.Error(), "no answer") || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %s; want no answer within the timeout, twice", err, time.Since(start))
	}
}

func TestSlackMessage(t *testing.T) {
	rv := &receiver{}
	srv := httptest.NewServer(rv)
	defer srv.Close()
	s, _ := New(Spec{Kind: KindSlack, Target: srv.URL + "/services/T0/B0/secret"}, Options{})
	if strings.Contains(s.Name(), "secret") || strings.Contains(s.ID(), "secret") {
		t.Errorf("the sink's name %q or id %q shows the URL's secret", s.Name(), s.ID())
	}
	for _, tc := range []struct {
		phase Phase
		want  []string
	}{
		{PhaseNew, []string{":red_circle: *HIGH* · *failed-authentication* · new incident", "12 failed authentications from 127.0.1.1",
			"*Subject:* sourceIP=127.0.1.1 userAgent=kubelet/v1.37.2", "*Linked:* Node worker-1 (linked; NotReady)", "*Advice:* Renew the kubelet's client certificate.",
			"*When:* 2026-11-25T05:50:01Z – 2026-11-25T05:54:59Z · 12 events"}},
		{PhaseOngoing, []string{"still active"}},
		{PhaseEnded, []string{":white_check_mark: *failed-authentication* ended"}},
	} {
		rv.body = nil
		if _, err := s.Deliver(context.Background(), []Report{report("k-"+string(tc.phase), tc.phase)}, nil); err != nil {
			t.Fatal(err)
		}
		var msg struct {
			Text   string `json:"text"`
			Blocks []any  `json:"blocks"`
		}
		if err := json.Unmarshal(rv.body[0], &msg); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg.Text, w) {
				t.Errorf("%s: message lacks %q:\n%s", tc.phase, w, msg.Text)
			}
		}
		if tc.phase == PhaseEnded && strings.Contains(msg.Text, "Advice") {
			t.Errorf("an end carries advice:\n%s", msg.Text)
		}
		if len(msg.Blocks) != 2 || rv.got[len(rv.got)-1].Header.Get(HeaderIdempotencyKey) != "" {
			t.Errorf("blocks %v, idempotency header on a Slack request", msg.Blocks)
		}
	}
}

func TestJSONLinesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "findings.jsonl")
	s, _ := New(Spec{Kind: KindFile, Target: path}, Options{})
	a, b, c := report("a", PhaseNew), report("b", PhaseNew), report("c", PhaseEnded)
	deliver := func(rs ...Report) {
		t.Helper()
		if done, err := s.Deliver(context.Background(), rs, nil); err != nil || len(done) != len(rs) {
			t.Fatalf("delivered %v: %v", done, err)
		}
	}
	deliver(a, b)
	deliver(a, b, c) // a and b sent again, as after a run killed before it recorded them
	// A write cut short: the last line has no newline.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.Write([]byte(`{"idempotencyKey":"d","pha`))
	_ = f.Close()
	deliver(c, report("d", PhaseNew))
	data, _ := os.ReadFile(path)
	var keys []string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var r Report
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		keys = append(keys, r.Key)
	}
	if strings.Join(keys, ",") != "a,b,c,d" {
		t.Errorf("keys in the file %v, want each once: a,b,c,d", keys)
	}
}

func TestSARIFActive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.sarif")
	s, _ := New(Spec{Kind: KindFile, Target: path}, Options{Version: "v0.1.0"})
	active := []Report{report("a", PhaseNew)}
	for i := 0; i < 2; i++ {
		if _, err := s.Deliver(context.Background(), active, active); err != nil {
			t.Fatal(err)
		}
	}
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID              string            `json:"ruleId"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatal(err)
	}
	if len(log.Runs) != 1 || len(log.Runs[0].Results) != 1 || log.Runs[0].Results[0].PartialFingerprints["kubectlAudit/v1"] != "a1b2c3d4e5f60718" {
		t.Fatalf("SARIF %s", data)
	}
	// The incident ended: the file no longer has it.
	if _, err := s.Deliver(context.Background(), []Report{report("a-ended", PhaseEnded)}, nil); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	if err := json.Unmarshal(data, &log); err != nil || len(log.Runs[0].Results) != 0 {
		t.Fatalf("after the end: %s", data)
	}
}

func TestEvents(t *testing.T) {
	cs := fake.NewClientset()
	s, err := New(Spec{Kind: KindEvents}, Options{Kube: func() (kubernetes.Interface, error) { return cs, nil }, Instance: "cronjob-pod"})
	if err != nil {
		t.Fatal(err)
	}
	get := func(ns, name string) *eventsv1.Event {
		t.Helper()
		ev, err := cs.EventsV1().Events(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	r := report("a1b2c3d4e5f60718", PhaseNew)
	node, sa := r.Links[0], r.Links[1]
	for _, step := range []struct {
		name        string
		report      Report
		nodeSeries  int32 // the node Event's series count (0: none)
		events      int   // Events in all
		ended       bool
		description string
	}{
		{name: "new", report: r, events: 2},
		{name: "new again (a run cut short)", report: r, events: 2},
		{name: "ongoing", report: report("a1b2c3d4e5f60718-ongoing-1", PhaseOngoing), nodeSeries: 2, events: 2},
		{name: "ongoing again", report: report("a1b2c3d4e5f60718-ongoing-1", PhaseOngoing), nodeSeries: 2, events: 2},
		{name: "ongoing later", report: report("a1b2c3d4e5f60718-ongoing-2", PhaseOngoing), nodeSeries: 3, events: 2},
		{name: "ended", report: report("a1b2c3d4e5f60718-ended", PhaseEnded), nodeSeries: 3, events: 4, ended: true},
	} {
		t.Run(step.name, func(t *testing.T) {
			if done, err := s.Deliver(context.Background(), []Report{step.report}, nil); err != nil || len(done) != 1 {
				t.Fatalf("delivered %v: %v", done, err)
			}
			ev := get("default", EventName(r.Incident, node, false))
			if ev.Type != "Warning" || ev.Reason != "failed-authentication" || ev.Regarding.Kind != "Node" || ev.Regarding.Name != "worker-1" ||
				ev.Regarding.UID != "uid-node" || ev.ReportingController != ReportingController || ev.ReportingInstance != "cronjob-pod" {
				t.Errorf("node event %+v", ev)
			}
			var count int32
			if ev.Series != nil {
				count = ev.Series.Count
			}
			if count != step.nodeSeries {
				t.Errorf("series count %d, want %d", count, step.nodeSeries)
			}
			if sev := get("traefik", EventName(r.Incident, sa, false)); sev.Regarding.Kind != "ServiceAccount" || sev.Regarding.Namespace != "traefik" {
				t.Errorf("service account event %+v", sev)
			}
			all, _ := cs.EventsV1().Events("").List(context.Background(), metav1.ListOptions{})
			if len(all.Items) != step.events {
				t.Errorf("%d events, want %d (none on the gone Pod)", len(all.Items), step.events)
			}
			if step.ended {
				if end := get("default", EventName(r.Incident, node, true)); end.Type != "Normal" || end.Action != "Ended" {
					t.Errorf("end event %+v", end)
				}
			}
		})
	}
}

func TestEventsForbidden(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "events.k8s.io", Resource: "events"}, "", errString("no"))
	})
	s, _ := New(Spec{Kind: KindEvents}, Options{Kube: func() (kubernetes.Interface, error) { return cs, nil }})
	_, err := s.Deliver(context.Background(), []Report{report("k", PhaseNew)}, nil)
	if err == nil || !strings.Contains(err.Error(), `resources: ["events"], verbs: ["create"]`) || !strings.Contains(err.Error(), "on Node worker-1") {
		t.Fatalf("err %v; want the missing permission and the object", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in, kind, err string
	}{
		{in: "webhook=https://example.com/hook?a=1,b=2", kind: KindWebhook},
		{in: "slack=https://hooks.slack.com/services/T/B/X", kind: KindSlack},
		{in: "events", kind: KindEvents},
		{in: "file=/var/log/findings.jsonl", kind: KindFile},
		{in: "webhook=", err: "want webhook=URL"},
		{in: "webhook=ftp://x", err: "want an http(s) URL"},
		{in: "events=x", err: "events takes no value"},
		{in: "email=me", err: "want webhook=URL, slack=URL, events or file=PATH"},
	} {
		s, err := ParseSpec(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || s.Kind != tc.kind {
			t.Errorf("%s: %+v, %v", tc.in, s, err)
		}
	}
}
