package detectors

import (
	"strconv"
	"strings"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// fieldGetter reads a string event field without running an expression;
// ok is false for names that are not plain string fields.
func fieldGetter(name string) (func(e *audit.Event) string, bool) {
	switch name {
	case "auditID":
		return func(e *audit.Event) string { return e.AuditID }, true
	case "stage":
		return func(e *audit.Event) string { return e.Stage }, true
	case "level":
		return func(e *audit.Event) string { return e.Level }, true
	case "verb":
		return func(e *audit.Event) string { return e.Verb }, true
	case "requestURI":
		return func(e *audit.Event) string { return e.RequestURI }, true
	case "userAgent":
		return func(e *audit.Event) string { return e.UserAgent }, true
	case "user":
		return func(e *audit.Event) string { return e.User.Username }, true
	case "userUID":
		return func(e *audit.Event) string { return e.User.UID }, true
	case "impersonatedUser":
		return func(e *audit.Event) string { return e.ImpersonatedUser.Username }, true
	case "serviceAccount":
		return func(e *audit.Event) string { return e.ServiceAccount() }, true
	case "node":
		return func(e *audit.Event) string { return e.NodeName() }, true
	case "sourceIP":
		return func(e *audit.Event) string { return e.SourceIP() }, true
	case "resource":
		return func(e *audit.Event) string { return e.ObjectRef.Resource }, true
	case "subresource":
		return func(e *audit.Event) string { return e.ObjectRef.Subresource }, true
	case "namespace":
		return func(e *audit.Event) string { return e.ObjectRef.Namespace }, true
	case "name":
		return func(e *audit.Event) string { return e.ObjectRef.Name }, true
	case "apiGroup":
		return func(e *audit.Event) string { return e.ObjectRef.APIGroup }, true
	case "apiVersion":
		return func(e *audit.Event) string { return e.ObjectRef.APIVersion }, true
	case "objectUID":
		return func(e *audit.Event) string { return e.ObjectRef.UID }, true
	case "code":
		return func(e *audit.Event) string { return strconv.Itoa(e.Code) }, true
	case "status":
		return func(e *audit.Event) string { return e.Status }, true
	case "reason":
		return func(e *audit.Event) string { return e.Reason }, true
	case "message":
		return func(e *audit.Event) string { return e.Message }, true
	case "decision":
		return func(e *audit.Event) string { return e.Decision() }, true
	case "path":
		return func(e *audit.Event) string {
			if i := strings.IndexByte(e.RequestURI, '?'); i >= 0 {
				return e.RequestURI[:i]
			}
			return e.RequestURI
		}, true
	case "resourceKey":
		var buf []byte
		// Built in a buffer the getter owns: valid until its next call,
		// which is long enough for a key or an aggregate (they clone).
		return func(e *audit.Event) string {
			r := e.ObjectRef
			if r.Resource == "" || r.APIGroup == "" && r.Subresource == "" {
				return e.ResourceKey()
			}
			buf = append(buf[:0], r.Resource...)
			if r.APIGroup != "" {
				buf = append(buf, '.')
				buf = append(buf, r.APIGroup...)
			}
			if r.Subresource != "" {
				buf = append(buf, '/')
				buf = append(buf, r.Subresource...)
			}
			return unsafeString(buf)
		}, true
	case "authzReason":
		return func(e *audit.Event) string { return e.Annotation("authorization.k8s.io/reason") }, true
	}
	return nil, false
}
