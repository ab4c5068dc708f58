package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// SecretBody reports resources whose request and response bodies hold
// credentials: Secrets, ServiceAccount tokens (TokenRequest), TokenReviews.
// Their bodies are never printed unless the user asks (--show-secrets);
// expressions may still test them.
func SecretBody(group, resource, subresource string) bool {
	switch {
	case group == "" && resource == "secrets":
		return true
	case group == "" && resource == "serviceaccounts" && subresource == "token":
		return true
	case group == "authentication.k8s.io" && (resource == "tokenreviews" || resource == "tokenrequests"):
		return true
	}
	return false
}

// HasSecretBody reports whether e's request or response body holds
// credentials (SecretBody).
func (e *Event) HasSecretBody() bool {
	return SecretBody(e.ObjectRef.APIGroup, e.ObjectRef.Resource, e.ObjectRef.Subresource)
}

// isBodyPath reports a path into requestObject or responseObject.
func isBodyPath(path string) bool {
	return strings.HasPrefix(path, "requestObject") || strings.HasPrefix(path, "responseObject")
}

// Redacted stands for a secret value in printed output: the same value
// gives the same text (so distinct() and grouping still work), and nothing
// of the value can be read back from it.
func Redacted(v any) string {
	h := sha256.Sum256([]byte(fmt.Sprint(v)))
	return "<redacted " + hex.EncodeToString(h[:4]) + ">"
}

// SetRedact makes get() and getAll() return Redacted values for the bodies
// of secret-bearing events: on while evaluating what is printed (top's
// keys, detect's group_by and values), off for what only tests (match,
// where, when).
func (x *ExprEnv) SetRedact(on bool) { x.redactOn = on }

// redact replaces what a body path of a secret-bearing event yields,
// when the environment prints (Redact). Numbers and booleans are kept:
// they are not credentials (TokenReview's status.authenticated).
func (x *ExprEnv) redact(path string, v any) any {
	if !x.redactOn || x.ev == nil || !isBodyPath(path) || !x.ev.HasSecretBody() {
		return v
	}
	switch v.(type) {
	case nil, bool, int, int64, float64:
		return v
	}
	return Redacted(v)
}
