package audit

import (
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// ExprEnv is what expressions (--where, rule match/group_by) see of one
// event. Field names are the expression names; they are a stable interface
// documented in the README. One ExprEnv per worker: Set refills it for each
// event, and its functions read the event it was last set to.
type ExprEnv struct {
	AuditID          string   `expr:"auditID"`
	Stage            string   `expr:"stage"`
	Level            string   `expr:"level"`
	Verb             string   `expr:"verb"`
	RequestURI       string   `expr:"requestURI"`
	UserAgent        string   `expr:"userAgent"`
	User             string   `expr:"user"`
	UserUID          string   `expr:"userUID"`
	Groups           []string `expr:"groups"`
	ImpersonatedUser string   `expr:"impersonatedUser"`
	ServiceAccount   string   `expr:"serviceAccount"`
	Node             string   `expr:"node"`
	SourceIP         string   `expr:"sourceIP"`
	SourceIPs        []string `expr:"sourceIPs"`
	Resource         string   `expr:"resource"`
	Subresource      string   `expr:"subresource"`
	Namespace        string   `expr:"namespace"`
	Name             string   `expr:"name"`
	APIGroup         string   `expr:"apiGroup"`
	APIVersion       string   `expr:"apiVersion"`
	ObjectUID        string   `expr:"objectUID"`
	Code             int      `expr:"code"`
	Status           string   `expr:"status"`
	Reason           string   `expr:"reason"`
	Message          string   `expr:"message"`
	Decision         string   `expr:"decision"`
	AuthzReason      string   `expr:"authzReason"`
	// Latency is stageTimestamp - requestReceivedTimestamp in seconds.
	Latency     float64   `expr:"latency"`
	Received    time.Time `expr:"time"`
	LongRunning bool      `expr:"longRunning"`
	// Path is requestURI without its query.
	Path string `expr:"path"`
	// ResourceKey is group/resource/subresource in kubectl's style
	// ("pods/exec", "deployments.apps"), or the path of non-resource requests.
	ResourceKey        string   `expr:"resourceKey"`
	ImpersonatedGroups []string `expr:"impersonatedGroups"`

	// Annotation returns an annotation's value, or "".
	Annotation func(key string) string `expr:"annotation"`
	// Extra returns the first value of user.extra[key], or "".
	Extra func(key string) string `expr:"extra"`
	// Get returns the value at a dotted path of the raw event
	// ("requestObject.spec.hostNetwork"), converted to a string, number,
	// bool, list or map; nil when absent.
	Get func(path string) any `expr:"get"`
	// Has reports whether a dotted path exists in the raw event.
	Has func(path string) bool `expr:"has"`
	// GetAll returns every value at a dotted path where "*" walks all items
	// of a list or map ("requestObject.spec.containers.*.image"); lists
	// found at the end are flattened.
	GetAll func(path string) []any `expr:"getAll"`
	// Query returns the first value of a requestURI query parameter, or "".
	Query func(name string) string `expr:"query"`
	// QueryAll returns every value of a requestURI query parameter (exec's
	// command=, one per argument).
	QueryAll func(name string) []string `expr:"queryAll"`
	// DeniedBy names what denied a request at admission, from its message:
	// "webhook <name>", "policy <name>", "PodSecurity <level>",
	// "ResourceQuota <name>", "NamespaceLifecycle", else the reason.
	DeniedBy func() string `expr:"deniedBy"`
	// Seconds parses a Go duration ("1.5s", "350ms", as in the
	// apiserver.latency.k8s.io/* annotations) into seconds; 0 if invalid.
	Seconds func(d string) float64 `expr:"seconds"`
	// PolicyRule spells the RBAC rule the request needed, copy-pastable
	// into a Role: {apiGroups: [""], resources: ["secrets"], verbs: ["list"]}.
	PolicyRule func() string `expr:"policyRule"`
	// MutatingWebhooks lists "configuration/webhook" of the mutating
	// webhooks that changed the object (mutation.webhook.admission.k8s.io/round_* with mutated: true).
	MutatingWebhooks func() []string `expr:"mutatingWebhooks"`
	// AnnotationKeys lists the annotation keys that start with prefix.
	AnnotationKeys func(prefix string) []string `expr:"annotationKeys"`

	ev   *Event
	lazy lazyFields
	// redactOn hides secret bodies from get and getAll (SetRedact).
	redactOn bool
	paths    map[string][]string
}

// NewExprEnv returns an environment whose functions read the current event.
func NewExprEnv() *ExprEnv {
	x := &ExprEnv{}
	x.Annotation = func(key string) string {
		if x.ev == nil {
			return ""
		}
		return x.ev.Annotation(key)
	}
	x.Extra = func(key string) string {
		if x.ev == nil {
			return ""
		}
		return x.ev.User.Extra(key)
	}
	x.Get = func(path string) any {
		if x.ev == nil {
			return nil
		}
		return x.redact(path, jsonToAny(x.ev.Get(x.split(path)...)))
	}
	x.Has = func(path string) bool {
		return x.ev != nil && x.ev.Get(x.split(path)...) != nil
	}
	x.initFuncs()
	return x
}

// Set points the environment at e. Strings are views into e: valid until
// the next Set.
func (x *ExprEnv) Set(e *Event) {
	x.ev = e
	x.AuditID = e.AuditID
	x.Stage = e.Stage
	x.Level = e.Level
	x.Verb = e.Verb
	x.RequestURI = e.RequestURI
	x.UserAgent = e.UserAgent
	x.User = e.User.Username
	x.UserUID = e.User.UID
	x.Groups = e.User.Groups
	x.ImpersonatedUser = e.ImpersonatedUser.Username
	x.ImpersonatedGroups = e.ImpersonatedUser.Groups
	if x.lazy.want(lazyServiceAccount) {
		x.ServiceAccount = e.ServiceAccount()
	}
	if x.lazy.want(lazyNode) {
		x.Node = e.NodeName()
	}
	x.SourceIP = e.SourceIP()
	x.SourceIPs = e.SourceIPs
	x.Resource = e.ObjectRef.Resource
	x.Subresource = e.ObjectRef.Subresource
	x.Namespace = e.ObjectRef.Namespace
	x.Name = e.ObjectRef.Name
	x.APIGroup = e.ObjectRef.APIGroup
	x.APIVersion = e.ObjectRef.APIVersion
	x.ObjectUID = e.ObjectRef.UID
	x.Code = e.Code
	x.Status = e.Status
	x.Reason = e.Reason
	x.Message = e.Message
	if x.lazy.want(lazyDecision) {
		x.Decision = e.Annotation("authorization.k8s.io/decision")
	}
	if x.lazy.want(lazyAuthzReason) {
		x.AuthzReason = e.Annotation("authorization.k8s.io/reason")
	}
	x.Latency = e.Latency().Seconds()
	x.Received = e.Received
	x.LongRunning = e.LongRunning()
	if x.lazy.want(lazyPath) {
		x.Path = pathOf(e.RequestURI)
	}
	if x.lazy.want(lazyResourceKey) {
		x.ResourceKey = e.ResourceKey()
	}
}

// split is splitPath, remembered: rules ask for the same few paths on
// every event. The result must not be changed.
func (x *ExprEnv) split(p string) []string {
	if v, ok := x.paths[p]; ok {
		return v
	}
	v := splitPath(p)
	if x.paths == nil {
		x.paths = map[string][]string{}
	}
	if len(x.paths) < 1024 {
		x.paths[p] = v
	}
	return v
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

func jsonToAny(v *fastjson.Value) any {
	if v == nil {
		return nil
	}
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeNumber:
		if i, err := v.Int64(); err == nil {
			return int(i)
		}
		f, _ := v.Float64()
		return f
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	case fastjson.TypeArray:
		a, _ := v.Array()
		out := make([]any, len(a))
		for i, x := range a {
			out[i] = jsonToAny(x)
		}
		return out
	case fastjson.TypeObject:
		o, _ := v.Object()
		m := make(map[string]any, o.Len())
		o.Visit(func(k []byte, x *fastjson.Value) { m[string(k)] = jsonToAny(x) })
		return m
	}
	return nil
}
