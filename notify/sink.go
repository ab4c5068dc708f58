package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-audit/kubectl-audit/rules"
)

// Sink delivers reports somewhere.
type Sink interface {
	// ID names the sink in the state: its kind and a hash of its target,
	// so that no webhook URL (Slack's carry their secret) is written there.
	ID() string
	// Name names the sink in messages, without secrets.
	Name() string
	// Deliver sends reports in order and returns the keys delivered, up to
	// the first failure, and that failure. active holds a report of every
	// incident still active, for sinks that show the current set (SARIF).
	Deliver(ctx context.Context, reports, active []Report) ([]string, error)
}

// Options configure the sinks.
type Options struct {
	// Timeout bounds one HTTP request (default 10s).
	Timeout time.Duration
	// Attempts is how many times a report is tried on a transient error
	// (a connection error, 408, 425, 429, 5xx) before giving up (default
	// 5), waiting Backoff, doubled each time up to 30s (default 500ms), or
	// what Retry-After asks.
	Attempts int
	Backoff  time.Duration
	// Secret signs webhook bodies (HMAC-SHA256, header
	// X-Kubectl-Audit-Signature-256: sha256=<hex>); nil: unsigned.
	Secret []byte
	// Kube is the client for the events sink.
	Kube func() (kubernetes.Interface, error)
	// Rules and Version describe the tool in SARIF files.
	Rules   []*rules.Rule
	Version string
	// Instance names this reporter in Events (reportingInstance).
	Instance string
	// AfterSend, when set, is called after each report a sink delivered
	// (a test hook).
	AfterSend func(key string)
	// HTTPClient, when set, replaces the default client (tests).
	HTTPClient *http.Client
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.Instance == "" {
		o.Instance = "kubectl-audit"
	}
	if o.AfterSend == nil {
		o.AfterSend = func(string) {}
	}
	return o
}

// Kinds of sinks, as --notify names them.
const (
	KindWebhook = "webhook"
	KindSlack   = "slack"
	KindEvents  = "events"
	KindFile    = "file"
)

// Spec is a parsed --notify value.
type Spec struct {
	Kind   string
	Target string // the URL or path; "" for events
}

// ParseSpec parses webhook=URL, slack=URL, events or file=PATH.
func ParseSpec(s string) (Spec, error) {
	kind, target, hasTarget := strings.Cut(s, "=")
	switch kind {
	case KindWebhook, KindSlack:
		if !hasTarget || target == "" {
			return Spec{}, fmt.Errorf("--notify %s: want %s=URL", s, kind)
		}
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Spec{}, fmt.Errorf("--notify %s=...: want an http(s) URL, got %q", kind, redactURL(target))
		}
	case KindEvents:
		if hasTarget {
			return Spec{}, fmt.Errorf("--notify %s: events takes no value (the Events go on the objects each finding is linked to)", s)
		}
	case KindFile:
		if !hasTarget || target == "" {
			return Spec{}, fmt.Errorf("--notify %s: want file=PATH (JSON lines; .sarif for SARIF)", s)
		}
	default:
		return Spec{}, fmt.Errorf("--notify %q: want webhook=URL, slack=URL, events or file=PATH", s)
	}
	return Spec{Kind: kind, Target: target}, nil
}

// ID is the sink's name in the state.
func (s Spec) ID() string {
	if s.Target == "" {
		return s.Kind
	}
	h := sha256.Sum256([]byte(s.Target))
	return s.Kind + "#" + hex.EncodeToString(h[:6])
}

// Name is the sink in messages: the URL without its path (which, for
// Slack, is the secret) or the file's path.
func (s Spec) Name() string {
	switch s.Kind {
	case KindWebhook, KindSlack:
		return s.Kind + "=" + redactURL(s.Target)
	case KindFile:
		return s.Kind + "=" + s.Target
	}
	return s.Kind
}

// redactURL keeps a URL's scheme, host and the first path segment.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<not a URL>"
	}
	p := strings.TrimPrefix(u.Path, "/")
	first, rest, _ := strings.Cut(p, "/")
	out := u.Scheme + "://" + u.Host + "/" + first
	if rest != "" || u.RawQuery != "" {
		out += "/…"
	}
	return out
}

// New makes the sink of a spec.
func New(spec Spec, o Options) (Sink, error) {
	o = o.withDefaults()
	base := named{id: spec.ID(), name: spec.Name()}
	switch spec.Kind {
	case KindWebhook:
		return &webhook{named: base, url: spec.Target, o: o, client: httpClient(o)}, nil
	case KindSlack:
		return &webhook{named: base, url: spec.Target, o: o, client: httpClient(o), slack: true}, nil
	case KindEvents:
		if o.Kube == nil {
			return nil, fmt.Errorf("--notify events: no cluster to create Events in")
		}
		return &events{named: base, o: o}, nil
	case KindFile:
		if strings.EqualFold(filepath.Ext(spec.Target), ".sarif") {
			return &sarifFile{named: base, path: spec.Target, o: o}, nil
		}
		return &jsonLines{named: base, path: spec.Target, o: o}, nil
	}
	return nil, fmt.Errorf("unknown sink kind %q", spec.Kind)
}

type named struct{ id, name string }

func (n named) ID() string   { return n.id }
func (n named) Name() string { return n.name }

func httpClient(o Options) *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{Timeout: o.Timeout}
}
