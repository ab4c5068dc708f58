package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of webhook requests.
const (
	// HeaderIdempotencyKey carries Report.Key: a receiver that has seen it
	// drops the request.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderSignature is sha256=<hex of HMAC-SHA256(secret, body)>.
	HeaderSignature = "X-Kubectl-Audit-Signature-256"
)

// webhook posts each report: JSON of the report, or a Slack message.
type webhook struct {
	named
	url    string
	o      Options
	client *http.Client
	slack  bool
}

func (w *webhook) Deliver(ctx context.Context, reports, _ []Report) ([]string, error) {
	var done []string
	for _, r := range reports {
		body, err := w.body(r)
		if err != nil {
			return done, err
		}
		if err := w.post(ctx, r.Key, body); err != nil {
			return done, fmt.Errorf("%s: report %s (%s %s): %w", w.name, r.Key, r.Phase, r.Finding.Rule, err)
		}
		done = append(done, r.Key)
		w.o.AfterSend(r.Key)
	}
	return done, nil
}

func (w *webhook) body(r Report) ([]byte, error) {
	if w.slack {
		return json.Marshal(SlackMessage(r))
	}
	return json.Marshal(r)
}

// Signature is the value of HeaderSignature for body.
func Signature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// post sends one body, retrying transient failures with backoff.
func (w *webhook) post(ctx context.Context, key string, body []byte) error {
	delay := w.o.Backoff
	var last error
	for attempt := 1; ; attempt++ {
		wait, err := w.try(ctx, key, body)
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= w.o.Attempts {
			if attempt > 1 {
				return fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		last = err
		if wait <= 0 {
			wait = delay
			delay = min(2*delay, 30*time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(last, ctx.Err())
		case <-t.C:
		}
	}
}

type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// try makes one request; a transient failure comes with how long the
// server asked to wait (Retry-After), or 0.
func (w *webhook) try(ctx context.Context, key string, body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, &permanentError{err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kubectl-audit/"+versionOr(w.o.Version))
	if !w.slack {
		req.Header.Set(HeaderIdempotencyKey, key)
		if w.o.Secret != nil {
			req.Header.Set(HeaderSignature, Signature(w.o.Secret, body))
		}
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("no answer: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, nil
	case resp.StatusCode == http.StatusConflict && !w.slack:
		// The receiver has this idempotency key already.
		return 0, nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooEarly,
		resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	hint := ""
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		hint = "; check the URL's credentials (and the signing secret the receiver expects)"
	case http.StatusNotFound, http.StatusGone:
		hint = "; check the URL (a Slack webhook revoked answers 404 no_service or 410)"
	}
	return 0, &permanentError{fmt.Sprintf("%s: %s%s", resp.Status, strings.TrimSpace(string(msg)), hint)}
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), time.Minute)
	}
	return 0
}

func versionOr(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}
