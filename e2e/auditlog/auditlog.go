// Package auditlog reads the JSON audit log a kube-apiserver writes
// (--audit-log-format=json: one audit.k8s.io/v1 Event per line) with
// encoding/json. It is the e2e module's own reader, deliberately
// independent of the plugin's, so the end-to-end tests check the plugin
// against a second opinion rather than against itself.
package auditlog

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Event is the subset of audit.k8s.io/v1 Event the tests look at.
type Event struct {
	Level                    string            `json:"level"`
	AuditID                  string            `json:"auditID"`
	Stage                    string            `json:"stage"`
	RequestURI               string            `json:"requestURI"`
	Verb                     string            `json:"verb"`
	User                     UserInfo          `json:"user"`
	ImpersonatedUser         *UserInfo         `json:"impersonatedUser,omitempty"`
	SourceIPs                []string          `json:"sourceIPs"`
	UserAgent                string            `json:"userAgent"`
	ObjectRef                *ObjectReference  `json:"objectRef,omitempty"`
	ResponseStatus           *Status           `json:"responseStatus,omitempty"`
	RequestObject            json.RawMessage   `json:"requestObject,omitempty"`
	ResponseObject           json.RawMessage   `json:"responseObject,omitempty"`
	RequestReceivedTimestamp time.Time         `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time         `json:"stageTimestamp"`
	Annotations              map[string]string `json:"annotations,omitempty"`
}

// UserInfo is authentication.k8s.io/v1 UserInfo.
type UserInfo struct {
	Username string              `json:"username"`
	UID      string              `json:"uid"`
	Groups   []string            `json:"groups"`
	Extra    map[string][]string `json:"extra"`
}

// ObjectReference is audit.k8s.io/v1 ObjectReference.
type ObjectReference struct {
	Resource        string `json:"resource"`
	Namespace       string `json:"namespace"`
	Name            string `json:"name"`
	UID             string `json:"uid"`
	APIGroup        string `json:"apiGroup"`
	APIVersion      string `json:"apiVersion"`
	ResourceVersion string `json:"resourceVersion"`
	Subresource     string `json:"subresource"`
}

// Status is the part of metav1.Status the audit log carries.
type Status struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Code    int    `json:"code"`
}

// Code is the response code, 0 if there is none.
func (e *Event) Code() int {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

// Resource is objectRef.resource, with "/subresource" appended if any.
func (e *Event) Resource() string {
	if e.ObjectRef == nil {
		return ""
	}
	if e.ObjectRef.Subresource != "" {
		return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource
	}
	return e.ObjectRef.Resource
}

// Namespace and Name of objectRef, empty if none.
func (e *Event) Namespace() string {
	if e.ObjectRef == nil {
		return ""
	}
	return e.ObjectRef.Namespace
}

func (e *Event) Name() string {
	if e.ObjectRef == nil {
		return ""
	}
	return e.ObjectRef.Name
}

// SourceIP is the first source IP: the client's address as the apiserver
// saw it (the later ones come from X-Forwarded-For).
func (e *Event) SourceIP() string {
	if len(e.SourceIPs) == 0 {
		return ""
	}
	return e.SourceIPs[0]
}

// ReadFile reads every event of a log file, gzip-compressed if its name
// ends in .gz.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	}
	return Read(r)
}

// Read reads one event per line.
func Read(r io.Reader) ([]Event, error) {
	var events []Event
	sc := bufio.NewScanner(r)
	// Events with RequestResponse bodies can be large.
	sc.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		events = append(events, e)
	}
	return events, sc.Err()
}

// Requests keeps one event per auditID: its ResponseComplete event if there
// is one, else ResponseStarted (watches that never completed), else Panic.
// The log holds one event per stage, so counting events counts a watch
// twice and a plain request once.
func Requests(events []Event) []Event {
	rank := map[string]int{"ResponseComplete": 3, "ResponseStarted": 2, "Panic": 1}
	best := map[string]int{}
	var out []Event
	for _, e := range events {
		i, seen := best[e.AuditID]
		if !seen {
			best[e.AuditID] = len(out)
			out = append(out, e)
			continue
		}
		if rank[e.Stage] > rank[out[i].Stage] {
			out[i] = e
		}
	}
	return out
}

// Filter returns the events for which keep is true.
func Filter(events []Event, keep func(*Event) bool) []Event {
	var out []Event
	for i := range events {
		if keep(&events[i]) {
			out = append(out, events[i])
		}
	}
	return out
}
