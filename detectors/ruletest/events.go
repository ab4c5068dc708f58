package ruletest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// auditFields are the top-level members of an audit.k8s.io/v1 Event an
// inline event may set: kind and apiVersion, and every member the event
// fields and functions are read from (the catalog's Field.From).
var auditFields = func() map[string]bool {
	m := map[string]bool{"kind": true, "apiVersion": true}
	for _, f := range audit.Fields() {
		for _, from := range f.From {
			top, _, _ := strings.Cut(from, ".")
			m[top] = true
		}
	}
	return m
}()

// shortForms are the keys an inline event may use besides audit fields:
// when and how often, and event fields (catalog names) set for you.
var shortForms = map[string]bool{
	"at": true, "repeat": true, "every": true, "code": true, "reason": true, "message": true,
	"decision": true, "authzReason": true, "latency": true,
}

// maxRepeat bounds one inline item.
const maxRepeat = 100_000

// Events expands inline events into JSON lines.
func Events(items []map[string]any, start time.Time) ([]byte, error) {
	var out []byte
	seq := 0
	for i, item := range items {
		keys := make([]string, 0, len(item))
		for k := range item {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !auditFields[k] && !shortForms[k] {
				return nil, fmt.Errorf("events[%d]: unknown field %q (audit event fields, or at, repeat, every, code, reason, message, decision, authzReason, latency)", i, k)
			}
		}
		at, err := durationField(item, "at", 0, true)
		if err != nil {
			return nil, fmt.Errorf("events[%d]: %v", i, err)
		}
		every, err := durationField(item, "every", time.Second, false)
		if err != nil {
			return nil, fmt.Errorf("events[%d]: %v", i, err)
		}
		latency, err := durationField(item, "latency", 5*time.Millisecond, false)
		if err != nil {
			return nil, fmt.Errorf("events[%d]: %v", i, err)
		}
		repeat := 1
		if v, ok := item["repeat"]; ok {
			n, ok := v.(int)
			if !ok || n < 1 || n > maxRepeat {
				return nil, fmt.Errorf("events[%d]: repeat must be a number from 1 to %d", i, maxRepeat)
			}
			repeat = n
		}
		for r := 0; r < repeat; r++ {
			seq++
			recv := start.Add(at + time.Duration(r)*every)
			ev, err := expand(item, recv, latency, seq)
			if err != nil {
				return nil, fmt.Errorf("events[%d]: %v", i, err)
			}
			evs := []map[string]any{ev}
			if _, staged := item["stage"]; !staged && longRunning(ev) {
				// kube-apiserver logs long-running requests twice: when
				// the response starts, and when it completes.
				started := map[string]any{}
				for k, v := range ev {
					started[k] = v
				}
				started["stage"] = "ResponseStarted"
				started["stageTimestamp"] = ev["requestReceivedTimestamp"]
				evs = []map[string]any{started, ev}
			}
			for _, e := range evs {
				b, err := json.Marshal(e)
				if err != nil {
					return nil, fmt.Errorf("events[%d]: %v", i, err)
				}
				out = append(out, b...)
				out = append(out, '\n')
			}
		}
	}
	return out, nil
}

func durationField(item map[string]any, name string, def time.Duration, negative bool) (time.Duration, error) {
	v, ok := item[name]
	if !ok {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%s must be a duration like 1s, got %v", name, v)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 && !negative {
		return 0, fmt.Errorf("%s must be a duration like 1s, got %q", name, s)
	}
	return d, nil
}

func expand(item map[string]any, recv time.Time, latency time.Duration, seq int) (map[string]any, error) {
	ev := map[string]any{
		"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "stage": "ResponseComplete",
		"auditID":                  fmt.Sprintf("00000000-0000-4000-8000-%012d", seq),
		"requestReceivedTimestamp": recv.UTC().Format("2006-01-02T15:04:05.000000Z"),
		"stageTimestamp":           recv.Add(latency).UTC().Format("2006-01-02T15:04:05.000000Z"),
	}
	for k, v := range item {
		if auditFields[k] {
			ev[k] = v
		}
	}
	if u, ok := ev["user"].(string); ok {
		ev["user"] = map[string]any{"username": u}
	}
	if u, ok := ev["impersonatedUser"].(string); ok {
		ev["impersonatedUser"] = map[string]any{"username": u}
	}
	if ip, ok := ev["sourceIPs"].(string); ok {
		ev["sourceIPs"] = []any{ip}
	}
	status, _ := ev["responseStatus"].(map[string]any)
	for _, k := range []string{"code", "reason", "message"} {
		if v, ok := item[k]; ok {
			if status == nil {
				status = map[string]any{"metadata": map[string]any{}}
			}
			status[k] = v
		}
	}
	if status != nil {
		ev["responseStatus"] = status
	} else if ev["stage"] != "RequestReceived" {
		ev["responseStatus"] = map[string]any{"metadata": map[string]any{}, "code": 200}
	}
	ann, _ := ev["annotations"].(map[string]any)
	for k, key := range map[string]string{"decision": "authorization.k8s.io/decision", "authzReason": "authorization.k8s.io/reason"} {
		if v, ok := item[k]; ok {
			if ann == nil {
				ann = map[string]any{}
			}
			ann[key] = v
		}
	}
	if ann != nil {
		ev["annotations"] = ann
	}
	if _, ok := ev["requestURI"]; !ok {
		ev["requestURI"] = uriOf(ev)
	}
	return ev, nil
}

// longRunning is kube-apiserver's BasicLongRunningRequestCheck.
func longRunning(ev map[string]any) bool {
	switch ev["verb"] {
	case "watch", "proxy":
		return true
	}
	ref, _ := ev["objectRef"].(map[string]any)
	switch ref["subresource"] {
	case "attach", "exec", "proxy", "log", "portforward":
		return true
	}
	return false
}

// uriOf builds a plausible requestURI from objectRef.
func uriOf(ev map[string]any) string {
	ref, _ := ev["objectRef"].(map[string]any)
	if ref == nil {
		return "/"
	}
	get := func(k string) string { s, _ := ref[k].(string); return s }
	group, version := get("apiGroup"), get("apiVersion")
	if version == "" {
		version = "v1"
	}
	p := "/api/" + version
	if group != "" {
		p = "/apis/" + group + "/" + version
	}
	if ns := get("namespace"); ns != "" {
		p += "/namespaces/" + ns
	}
	p += "/" + get("resource")
	if n := get("name"); n != "" {
		p += "/" + n
	}
	if s := get("subresource"); s != "" {
		p += "/" + s
	}
	if v, _ := ev["verb"].(string); v == "watch" {
		p += "?watch=true"
	}
	return strings.ReplaceAll(p, "//", "/")
}
