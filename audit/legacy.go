package audit

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// kube-apiserver's legacy audit format (--audit-log-format=legacy), one
// line of text per event, as k8s.io/apiserver's audit.EventString writes
// it:
//
//	2026-11-24T10:00:00.5Z AUDIT: id="…" stage="ResponseComplete" ip="10.0.0.1"
//	method="get" user="alice" groups="\"system:authenticated\"" as="<self>"
//	asgroups="<lookup>" user-agent="kubectl/v1.37.2" namespace="demo"
//	uri="/api/v1/namespaces/demo/pods/web" response="200"
//
// Each value is a Go-quoted string; <none>, <self>, <lookup>, <unknown>
// and <deferred> stand for what the event does not have. The format has
// no level, no objectRef (the resource is read from the URI, as the
// apiserver resolves it), no annotations and no bodies.
var legacyMarker = []byte(" AUDIT: ")

// legacyJSON is the event a legacy line describes, as JSON, and whether
// the line is one.
func legacyJSON(line []byte) ([]byte, bool) {
	i := bytes.Index(line, legacyMarker)
	if i <= 0 {
		return nil, false
	}
	ts := string(bytes.TrimSpace(line[:i]))
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return nil, false
	}
	f := map[string]string{}
	rest := string(line[i+len(legacyMarker):])
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			break
		}
		key, after, ok := strings.Cut(rest, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \"") {
			return nil, false
		}
		q, err := strconv.QuotedPrefix(after)
		if err != nil {
			return nil, false
		}
		v, err := strconv.Unquote(q)
		if err != nil {
			return nil, false
		}
		f[key] = v
		rest = after[len(q):]
	}
	if f["id"] == "" || f["method"] == "" {
		return nil, false
	}
	type userInfo struct {
		Username string   `json:"username,omitempty"`
		Groups   []string `json:"groups,omitempty"`
	}
	type objectRef struct {
		Resource    string `json:"resource,omitempty"`
		Namespace   string `json:"namespace,omitempty"`
		Name        string `json:"name,omitempty"`
		APIGroup    string `json:"apiGroup,omitempty"`
		APIVersion  string `json:"apiVersion,omitempty"`
		Subresource string `json:"subresource,omitempty"`
	}
	ev := struct {
		Kind       string     `json:"kind"`
		APIVersion string     `json:"apiVersion"`
		Level      string     `json:"level"`
		AuditID    string     `json:"auditID"`
		Stage      string     `json:"stage,omitempty"`
		RequestURI string     `json:"requestURI,omitempty"`
		Verb       string     `json:"verb"`
		User       userInfo   `json:"user"`
		Imp        *userInfo  `json:"impersonatedUser,omitempty"`
		SourceIPs  []string   `json:"sourceIPs,omitempty"`
		UserAgent  string     `json:"userAgent,omitempty"`
		ObjectRef  *objectRef `json:"objectRef,omitempty"`
		Status     *struct {
			Code int `json:"code"`
		} `json:"responseStatus,omitempty"`
		// The line has no stageTimestamp, so no latency either.
		Received string `json:"requestReceivedTimestamp"`
	}{Kind: "Event", APIVersion: "audit.k8s.io/v1", Level: "Metadata", AuditID: f["id"], Stage: f["stage"],
		RequestURI: f["uri"], Verb: f["method"], UserAgent: f["user-agent"], Received: ts}
	if u := f["user"]; u != "<none>" {
		ev.User.Username = u
		ev.User.Groups = legacyList(f["groups"], "<none>")
	}
	if as := f["as"]; as != "" && as != "<self>" {
		ev.Imp = &userInfo{Username: as, Groups: legacyList(f["asgroups"], "<lookup>")}
	}
	if ip := f["ip"]; ip != "" && ip != "<unknown>" {
		ev.SourceIPs = []string{ip}
	}
	ns := f["namespace"]
	if ns == "<none>" {
		ns = ""
	}
	if r, ok := resourceOf(f["uri"]); ok {
		if ns != "" {
			r.namespace = ns
		}
		ev.ObjectRef = &objectRef{Resource: r.resource, Namespace: r.namespace, Name: r.name, APIGroup: r.group, APIVersion: r.version, Subresource: r.sub}
	}
	if code, err := strconv.Atoi(f["response"]); err == nil {
		ev.Status = &struct {
			Code int `json:"code"`
		}{code}
	}
	b, err := json.Marshal(&ev)
	return b, err == nil
}

// legacyList reads groups="\"a\",\"b\"": Go-quoted strings joined by
// commas, or none.
func legacyList(s, none string) []string {
	if s == "" || s == none {
		return nil
	}
	var out []string
	for s != "" {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return append(out, s) // not a list after all: the text as it is
		}
		v, _ := strconv.Unquote(q)
		out = append(out, v)
		s = strings.TrimPrefix(s[len(q):], ",")
	}
	return out
}
