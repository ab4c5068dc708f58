package audit

import (
	"strconv"
	"strings"
)

// Field is one name of the expression environment: an event field or a
// function over the event. The catalog (Fields) is the one list of them:
// ExprEnv's tags, `kubectl audit rules fields`, README's table, detect's
// fast getters and top's --by keys all follow it, and tests hold ExprEnv
// and README to it.
type Field struct {
	// Name is the expression name ("userAgent", "annotation").
	Name string
	// Func marks a function; Params are its parameter names.
	Func   bool
	Params []string
	// From names the members of an audit.k8s.io/v1 Event the value is
	// read from ("user.username"); nil for a function of its argument only.
	From []string
	// Type is what expressions see: a field's type, a function's result.
	Type string
	// Desc says what the value is and where in the event it comes from.
	Desc string
	// GetString reads the value as the string an expression's value
	// becomes as a group key (ExprString), without running an expression
	// and without allocating. The string is a view into the event, or
	// into bytes appended to *arena for values built from parts
	// (serviceAccount, resourceKey, code): valid while the event is and
	// until the caller resets its arena. Nil for lists, times, latency and
	// functions.
	GetString func(e *Event, arena *[]byte) string

	// lazy is the bit of ExprEnv's costly fields: Set fills them only
	// when Require names them (an allocation or an annotation lookup).
	lazy uint32
}

// Signature is the name as expressions write it: "userAgent",
// "annotation(key)", "deniedBy()".
func (f Field) Signature() string {
	if !f.Func {
		return f.Name
	}
	return f.Name + "(" + strings.Join(f.Params, ", ") + ")"
}

// Fields lists the catalog: the event fields first, in ExprEnv's order,
// then the functions. The slice is shared: do not modify it.
func Fields() []Field { return fields }

// LookupField finds a catalog entry by its expression name.
func LookupField(name string) (Field, bool) {
	i, ok := fieldIndex[name]
	if !ok {
		return Field{}, false
	}
	return fields[i], true
}

var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(fields))
	for i, f := range fields {
		m[f.Name] = i
	}
	return m
}()

// Types of the catalog, as expr sees them.
const (
	typeString  = "string"
	typeStrings = "[]string"
	typeInt     = "int"
	typeFloat   = "float64"
	typeBool    = "bool"
	typeTime    = "time.Time"
)

// appendView appends with fn to the arena and returns the appended bytes
// as a string that shares the arena's memory.
func appendView(arena *[]byte, fn func([]byte) []byte) string {
	start := len(*arena)
	*arena = fn(*arena)
	return StringView((*arena)[start:])
}

var fields = []Field{
	{Name: "auditID", From: []string{"auditID"}, Type: typeString, Desc: "the request's ID, the same in each of its stages",
		GetString: func(e *Event, _ *[]byte) string { return e.AuditID }},
	{Name: "stage", From: []string{"stage"}, Type: typeString, Desc: "RequestReceived, ResponseStarted, ResponseComplete or Panic",
		GetString: func(e *Event, _ *[]byte) string { return e.Stage }},
	{Name: "level", From: []string{"level"}, Type: typeString, Desc: "the audit level the event was logged at: Metadata, Request or RequestResponse",
		GetString: func(e *Event, _ *[]byte) string { return e.Level }},
	{Name: "verb", From: []string{"verb"}, Type: typeString, Desc: "get, list, watch, create, update, patch, delete, deletecollection; the lower-case HTTP method of non-resource requests",
		GetString: func(e *Event, _ *[]byte) string { return e.Verb }},
	{Name: "requestURI", From: []string{"requestURI"}, Type: typeString, Desc: "the request's path and query",
		GetString: func(e *Event, _ *[]byte) string { return e.RequestURI }},
	{Name: "userAgent", From: []string{"userAgent"}, Type: typeString, Desc: "the client's User-Agent, whole (top --by useragent shows the program name)",
		GetString: func(e *Event, _ *[]byte) string { return e.UserAgent }},
	{Name: "user", From: []string{"user.username"}, Type: typeString, Desc: "the user; \"\" for failed authentication",
		GetString: func(e *Event, _ *[]byte) string { return e.User.Username }},
	{Name: "userUID", From: []string{"user.uid"}, Type: typeString, Desc: "the user's UID",
		GetString: func(e *Event, _ *[]byte) string { return e.User.UID }},
	{Name: "groups", From: []string{"user.groups"}, Type: typeStrings, Desc: "the user's groups"},
	{Name: "impersonatedUser", From: []string{"impersonatedUser.username"}, Type: typeString, Desc: "the impersonated user; \"\" without impersonation",
		GetString: func(e *Event, _ *[]byte) string { return e.ImpersonatedUser.Username }},
	{Name: "serviceAccount", From: []string{"user.username"}, Type: typeString, Desc: "namespace/name of a service-account user (system:serviceaccount:NS:NAME), else \"\"",
		lazy: lazyServiceAccount,
		GetString: func(e *Event, arena *[]byte) string {
			return appendView(arena, e.AppendServiceAccount)
		}},
	{Name: "node", From: []string{"user.username", "user.extra"}, Type: typeString, Desc: "the node behind the request: NAME of system:node:NAME, else a bound service-account token's node (extra authentication.kubernetes.io/node-name), else \"\"",
		lazy:      lazyNode,
		GetString: func(e *Event, _ *[]byte) string { return e.NodeName() }},
	{Name: "sourceIP", From: []string{"sourceIPs"}, Type: typeString, Desc: "the first of sourceIPs: the original client",
		GetString: func(e *Event, _ *[]byte) string { return e.SourceIP() }},
	{Name: "sourceIPs", From: []string{"sourceIPs"}, Type: typeStrings, Desc: "the client and the proxies in between"},
	{Name: "resource", From: []string{"objectRef.resource"}, Type: typeString, Desc: "the resource (pods); \"\" for non-resource requests",
		GetString: func(e *Event, _ *[]byte) string { return e.ObjectRef.Resource }},
	{Name: "subresource", From: []string{"objectRef.subresource"}, Type: typeString, Desc: "the subresource (exec, status)",
		GetString: func(e *Event, _ *[]byte) string { return e.ObjectRef.Subresource }},
	{Name: "namespace", From: []string{"objectRef.namespace"}, Type: typeString, Desc: "the namespace; \"\" for cluster-scoped objects",
		GetString: func(e *Event, _ *[]byte) string { return e.ObjectRef.Namespace }},
	{Name: "name", From: []string{"objectRef.name"}, Type: typeString, Desc: "the name; \"\" for lists and creates with a generated name",
		GetString: func(e *Event, _ *[]byte) string { return e.ObjectRef.Name }},
	{Name: "apiGroup", From: []string{"objectRef.apiGroup"}, Type: typeString, Desc: "the API group; \"\" for the core group",
		GetString: func(e *Event, _ *[]byte) string { return e.ObjectRef.APIGroup }},
	{Name: "apiVersion", From: []string{"objectRef.apiVersion"}, Type: typeString, Desc: "the API version (v1, v1beta1)",
		GetString: func(e *Event, _ *[]byte) string { return e.ObjectRef.APIVersion }},
	{Name: "objectUID", From: []string{"objectRef.uid"}, Type: typeString, Desc: "the object's UID",
		GetString: func(e *Event, _ *[]byte) string { return e.ObjectRef.UID }},
	{Name: "code", From: []string{"responseStatus.code"}, Type: typeInt, Desc: "the HTTP status code; 0 when the event has none (RequestReceived)",
		GetString: func(e *Event, arena *[]byte) string {
			return appendView(arena, func(b []byte) []byte { return strconv.AppendInt(b, int64(e.Code), 10) })
		}},
	{Name: "status", From: []string{"responseStatus.status"}, Type: typeString, Desc: "Success or Failure",
		GetString: func(e *Event, _ *[]byte) string { return e.Status }},
	{Name: "reason", From: []string{"responseStatus.reason"}, Type: typeString, Desc: "why it failed (Forbidden, NotFound, Conflict)",
		GetString: func(e *Event, _ *[]byte) string { return e.Reason }},
	{Name: "message", From: []string{"responseStatus.message"}, Type: typeString, Desc: "the error message",
		GetString: func(e *Event, _ *[]byte) string { return e.Message }},
	{Name: "decision", From: []string{"annotations"}, Type: typeString, Desc: "the authorizer's decision (authorization.k8s.io/decision): allow or forbid",
		lazy:      lazyDecision,
		GetString: func(e *Event, _ *[]byte) string { return e.Decision() }},
	{Name: "authzReason", From: []string{"annotations"}, Type: typeString, Desc: "why it was allowed (authorization.k8s.io/reason): the RBAC binding",
		lazy:      lazyAuthzReason,
		GetString: func(e *Event, _ *[]byte) string { return e.Annotation("authorization.k8s.io/reason") }},
	{Name: "latency", From: []string{"requestReceivedTimestamp", "stageTimestamp"}, Type: typeFloat, Desc: "stageTimestamp - requestReceivedTimestamp in seconds: the request's latency at ResponseComplete of requests that are not long-running"},
	{Name: "time", From: []string{"requestReceivedTimestamp", "stageTimestamp"}, Type: typeTime, Desc: "when the request was received: requestReceivedTimestamp, else stageTimestamp (or the timestamp of older event versions)"},
	{Name: "longRunning", From: []string{"verb", "objectRef.subresource", "requestURI"}, Type: typeBool, Desc: "watch and proxy requests, attach, exec, log, portforward and proxy subresources (kube-apiserver's long-running check): they log ResponseStarted",
		GetString: func(e *Event, _ *[]byte) string { return strconv.FormatBool(e.LongRunning()) }},
	{Name: "path", From: []string{"requestURI"}, Type: typeString, Desc: "requestURI without its query",
		lazy:      lazyPath,
		GetString: func(e *Event, _ *[]byte) string { return pathOf(e.RequestURI) }},
	{Name: "resourceKey", From: []string{"objectRef", "requestURI"}, Type: typeString, Desc: "resource.group/subresource in kubectl's style (pods/exec, deployments.apps); the path of non-resource requests",
		lazy: lazyResourceKey,
		GetString: func(e *Event, arena *[]byte) string {
			switch r := &e.ObjectRef; {
			case r.Resource == "":
				return pathOf(e.RequestURI)
			case r.APIGroup == "" && r.Subresource == "":
				return r.Resource
			}
			return appendView(arena, e.AppendResourceKey)
		}},
	{Name: "impersonatedGroups", From: []string{"impersonatedUser.groups"}, Type: typeStrings, Desc: "the impersonated user's groups"},

	{Name: "annotation", Func: true, Params: []string{"key"}, From: []string{"annotations"}, Type: typeString, Desc: "annotations[key], or \"\""},
	{Name: "extra", Func: true, Params: []string{"key"}, From: []string{"user.extra"}, Type: typeString, Desc: "the first value of user.extra[key], or \"\""},
	{Name: "get", Func: true, Params: []string{"path"}, From: []string{"requestObject", "responseObject"}, Type: "any", Desc: "the value at a dotted path of the event (get(\"requestObject.spec.hostNetwork\")) as a string, number, bool, list or map; nil when absent"},
	{Name: "has", Func: true, Params: []string{"path"}, From: []string{"requestObject", "responseObject"}, Type: typeBool, Desc: "whether a dotted path exists in the event"},
	{Name: "getAll", Func: true, Params: []string{"path"}, From: []string{"requestObject", "responseObject"}, Type: "[]any", Desc: "every value at a dotted path where * walks all items of a list or map (getAll(\"requestObject.spec.containers.*.image\")); lists at the end are flattened"},
	{Name: "query", Func: true, Params: []string{"name"}, From: []string{"requestURI"}, Type: typeString, Desc: "the first value of a requestURI query parameter, or \"\""},
	{Name: "queryAll", Func: true, Params: []string{"name"}, From: []string{"requestURI"}, Type: typeStrings, Desc: "every value of a requestURI query parameter (exec's command=, one per argument)"},
	{Name: "deniedBy", Func: true, From: []string{"responseStatus.message", "responseStatus.reason"}, Type: typeString, Desc: "what denied a request at admission, from its message: webhook NAME, policy NAME, PodSecurity LEVEL, ResourceQuota NAME, NamespaceLifecycle, else the reason"},
	{Name: "seconds", Func: true, Params: []string{"d"}, Type: typeFloat, Desc: "a Go duration (1.5s, 350ms, as in the apiserver.latency.k8s.io/* annotations) in seconds; 0 if invalid"},
	{Name: "policyRule", Func: true, From: []string{"verb", "objectRef"}, Type: typeString, Desc: "the RBAC rule the request needed, copy-pastable into a Role: {apiGroups: [\"\"], resources: [\"secrets\"], verbs: [\"list\"]}"},
	{Name: "mutatingWebhooks", Func: true, From: []string{"annotations"}, Type: typeStrings, Desc: "configuration/webhook of the mutating webhooks that changed the object (mutation.webhook.admission.k8s.io/round_* annotations)"},
	{Name: "annotationKeys", Func: true, Params: []string{"prefix"}, From: []string{"annotations"}, Type: typeStrings, Desc: "the annotation keys that start with prefix, sorted"},
}
