package why

import (
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// Options selects the object and what to include.
type Options struct {
	Resource  Resource
	Namespace string
	Name      string
	// Owners adds the calls of the owner chain and of owned objects
	// (deployment → replicasets → pods).
	Owners bool
	// WithReads adds get/list/watch calls.
	WithReads bool
	// ShowSecrets prints bodies of secrets, tokens and token reviews.
	ShowSecrets bool
	// AnyNamespace matches the object in whatever namespace (or none) the
	// log has it: for a type whose scope is unknown (a custom resource
	// named without discovery) and no -n. The timeline says where it was.
	AnyNamespace bool
}

// ObjectRef names one object of the story.
type ObjectRef struct {
	Kind      string `json:"kind,omitempty"`
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

// String is "deployment shop/checkout".
func (o ObjectRef) String() string {
	k := strings.ToLower(o.Kind)
	if k == "" {
		k = o.Resource
	}
	if o.Namespace != "" {
		return k + " " + o.Namespace + "/" + o.Name
	}
	return k + " " + o.Name
}

// Relations of an entry's object to the object asked about.
const (
	RelationSelf  = "self"
	RelationOwner = "owner"
	RelationOwned = "owned"
)

// Entry is one API call in the story.
type Entry struct {
	Time     time.Time `json:"time"`
	AuditID  string    `json:"auditID"`
	Object   ObjectRef `json:"object"`
	Relation string    `json:"relation"`
	Verb     string    `json:"verb"`
	// Subresource is status, scale, binding, exec, eviction, ...
	Subresource string `json:"subresource,omitempty"`
	Code        int    `json:"code"`
	// Message is responseStatus.message of failed calls.
	Message string `json:"message,omitempty"`
	// User is who the call acted as: the impersonated user when the caller
	// impersonated, with the caller in Impersonator.
	User          string         `json:"user"`
	Impersonator  string         `json:"impersonator,omitempty"`
	UserAgent     string         `json:"userAgent,omitempty"`
	SourceIP      string         `json:"sourceIP,omitempty"`
	Level         string         `json:"level"`
	Authorization *Authorization `json:"authorization,omitempty"`
	Webhooks      []Webhook      `json:"webhooks,omitempty"`
	// Changes is what the call changed or asked for (Request and
	// RequestResponse levels): patch fields, an update's diff against the
	// previous logged state, a new object's main fields, delete options.
	Changes     []FieldChange `json:"changes,omitempty"`
	MoreChanges int           `json:"moreChanges,omitempty"`
	// BodyHidden names why a body was not shown ("secrets").
	BodyHidden string `json:"bodyHidden,omitempty"`
}

// Succeeded reports a 2xx (or 101 upgrade) response.
func (e *Entry) Succeeded() bool { return e.Code >= 100 && e.Code < 300 }

// Program is the user agent's program name ("kubectl").
func (e *Entry) Program() string { return audit.ProgramName(e.UserAgent) }

// Action is who did something and when.
type Action struct {
	Time      time.Time `json:"time"`
	User      string    `json:"user"`
	SourceIP  string    `json:"sourceIP,omitempty"`
	UserAgent string    `json:"userAgent,omitempty"`
	AuditID   string    `json:"auditID"`
}

// Timeline is the story of one object.
type Timeline struct {
	Object ObjectRef `json:"object"`
	// Summary is the one-line answer: "deployment shop/checkout: deleted
	// 2026-11-25T05:42:39Z by alice (from 127.0.0.1, kubectl)".
	Summary string  `json:"summary"`
	Created *Action `json:"created,omitempty"`
	Deleted *Action `json:"deleted,omitempty"`
	// Writes counts successful writes to the object itself.
	Writes int `json:"writes"`
	// UIDs are the distinct objects that had this name, oldest first
	// (several when it was deleted and created again).
	UIDs []string `json:"uids,omitempty"`
	// OwnerChain is the object's owners, nearest first, from
	// ownerReferences in logged bodies or from names.
	OwnerChain []ObjectRef `json:"ownerChain,omitempty"`
	// Owned are objects owned (directly or not) found in the log.
	Owned   []ObjectRef `json:"owned,omitempty"`
	Entries []Entry     `json:"entries"`
}

type ownerRef struct {
	apiVersion, kind, name, uid string
	controller                  bool
}

// record is an Entry plus what the merge needs.
type record struct {
	Entry
	res          Resource
	pos          audit.Position
	owners       []ownerRef
	uid          string
	reqLeaves    []leaf
	respLeaves   []leaf
	jsonPatch    []FieldChange
	hasReq       bool
	hasResp      bool
	generateName string
}

// Collector is the Sink of one reading worker.
type Collector struct {
	opts    Options
	records []record
	// Matched counts events of the object itself.
	Matched int
}

// NewCollector returns a sink for sources.Read.
func NewCollector(opts Options) *Collector { return &Collector{opts: opts} }

var writeVerbs = map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}

// workloads are the resources an owner chain runs through.
var workloads = map[string]bool{
	"pods": true, "replicasets.apps": true, "deployments.apps": true, "statefulsets.apps": true,
	"daemonsets.apps": true, "jobs.batch": true, "cronjobs.batch": true, "replicationcontrollers": true,
	"controllerrevisions.apps": true,
}

// Event implements audit.Sink.
func (c *Collector) Event(e *audit.Event) {
	r := &e.ObjectRef
	if r.Resource == "" {
		return
	}
	o := &c.opts
	read := !writeVerbs[e.Verb] && (r.Subresource == "" || r.Subresource == "status" || r.Subresource == "scale")
	if read && !o.WithReads {
		return
	}
	// Older clusters served some types under other groups (deployments
	// under extensions): those calls are of the same objects.
	group := CanonicalGroup(r.Resource, r.APIGroup)
	sameType := r.Resource == o.Resource.Resource && group == o.Resource.Group
	key := r.Resource
	if group != "" {
		key += "." + group
	}
	if !sameType && (!o.Owners || !workloads[key]) {
		return
	}
	ns := namespaceOf(r, group)
	switch {
	case o.AnyNamespace && sameType:
	case o.Resource.Namespaced:
		if ns != o.Namespace {
			return
		}
	default:
		if ns != "" && sameType {
			return
		}
	}
	name := r.Name
	if name == "" && e.Verb == "create" {
		name = string(e.Get("responseObject", "metadata", "name").GetStringBytes())
	}
	self := sameType && name == o.Name
	related := false
	if !self && o.Owners && name != "" {
		related = strings.HasPrefix(name, o.Name+"-") || strings.HasPrefix(o.Name, name+"-") || name == o.Name
	}
	var owners []ownerRef
	if !self && !related && o.Owners && audit.LevelRank(e.Level) >= audit.LevelRank(audit.LevelRequest) && name != "" {
		owners = ownerRefsOf(e)
		for _, or := range owners {
			if or.name == o.Name || strings.HasPrefix(or.name, o.Name+"-") {
				related = true
			}
		}
	}
	if !self && !related {
		return
	}
	if self {
		c.Matched++
	}
	c.records = append(c.records, c.record(e, key, name, owners))
}

// namespaceOf is the namespace of the object a call is about. For a
// Namespace, kube-apiserver sets objectRef.namespace to the namespace's own
// name on every call but the create: the object has no namespace.
func namespaceOf(r *audit.ObjectRef, group string) string {
	if group == "" && r.Resource == "namespaces" {
		return ""
	}
	return r.Namespace
}

func ownerRefsOf(e *audit.Event) []ownerRef {
	var out []ownerRef
	for _, obj := range []string{"responseObject", "requestObject"} {
		for _, v := range e.Get(obj, "metadata", "ownerReferences").GetArray() {
			out = append(out, ownerRef{
				apiVersion: string(v.GetStringBytes("apiVersion")), kind: string(v.GetStringBytes("kind")),
				name: string(v.GetStringBytes("name")), uid: string(v.GetStringBytes("uid")),
				controller: v.GetBool("controller"),
			})
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

func (c *Collector) record(e *audit.Event, key, name string, owners []ownerRef) record {
	r := &e.ObjectRef
	res, ok := LookupBuiltin(key)
	if !ok {
		res = Resource{Group: r.APIGroup, Resource: r.Resource, Namespaced: r.Namespace != ""}
		if key == c.opts.Resource.Key() {
			res = c.opts.Resource
		}
	}
	rec := record{res: res, pos: e.Source}
	rec.Time = e.Received
	rec.AuditID = strings.Clone(e.AuditID)
	rec.Object = ObjectRef{Kind: res.Kind, Resource: res.Key(), Namespace: strings.Clone(namespaceOf(r, CanonicalGroup(r.Resource, r.APIGroup))), Name: strings.Clone(name)}
	rec.Verb = strings.Clone(e.Verb)
	rec.Subresource = strings.Clone(r.Subresource)
	rec.Code = e.Code
	if e.Code >= 400 {
		rec.Message = truncate(strings.Clone(e.Message))
	}
	rec.User = strings.Clone(e.User.Username)
	if e.HasImpersonation() {
		rec.User, rec.Impersonator = strings.Clone(e.ImpersonatedUser.Username), rec.User
	}
	rec.UserAgent = strings.Clone(e.UserAgent)
	rec.SourceIP = strings.Clone(e.SourceIP())
	rec.Level = strings.Clone(e.Level)
	rec.uid = strings.Clone(r.UID)

	decision := e.Annotation("authorization.k8s.io/decision")
	reason := e.Annotation("authorization.k8s.io/reason")
	if decision != "" || reason != "" {
		a := ParseReason(strings.Clone(decision), strings.Clone(reason))
		if a.Authorizer == "" && reason == "" && decision == "allow" {
			switch {
			case strings.HasPrefix(e.User.Username, "system:node:"):
				a.Authorizer = "Node"
			case hasGroup(e.User.Groups, "system:masters"):
				a.Authorizer = "system:masters"
			}
		}
		rec.Authorization = &a
	}
	hidden := !c.opts.ShowSecrets && audit.SecretBody(r.APIGroup, r.Resource, r.Subresource)
	var wc webhookCollector
	e.VisitAnnotations(func(k, v string) { wc.add(k, v, hidden) })
	rec.Webhooks = wc.list()

	if owners == nil && c.opts.Owners && audit.LevelRank(e.Level) >= audit.LevelRank(audit.LevelRequest) {
		owners = ownerRefsOf(e)
	}
	rec.owners = owners
	if audit.LevelRank(e.Level) < audit.LevelRank(audit.LevelRequest) {
		return rec
	}
	if rec.uid == "" {
		rec.uid = string(e.Get("responseObject", "metadata", "uid").GetStringBytes())
	}
	if rec.uid == "" && e.Verb == "delete" {
		rec.uid = string(e.Get("requestObject", "preconditions", "uid").GetStringBytes())
	}
	rec.generateName = string(e.Get("requestObject", "metadata", "generateName").GetStringBytes())
	if hidden {
		if e.Get("requestObject") != nil || e.Get("responseObject") != nil {
			rec.BodyHidden = r.Resource
		}
		return rec
	}
	keepStatus := r.Subresource == "status"
	if req := e.Get("requestObject"); req != nil {
		rec.hasReq = true
		if req.Type() == fastjson.TypeArray {
			rec.jsonPatch = jsonPatchChanges(req.MarshalTo(nil))
		} else {
			rec.reqLeaves = flatten(req, keepStatus)
		}
	}
	if resp := e.Get("responseObject"); resp != nil && e.Verb != "delete" && resp.Type() == fastjson.TypeObject &&
		string(resp.GetStringBytes("kind")) != "Status" {
		rec.hasResp = true
		rec.respLeaves = flatten(resp, keepStatus)
	}
	return rec
}

func hasGroup(groups []string, g string) bool {
	for _, x := range groups {
		if x == g {
			return true
		}
	}
	return false
}
