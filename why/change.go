package why

import (
	"sort"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// FieldChange is one field of a change: its path (spec.replicas,
// spec.template.spec.containers[checkout].image), the value before (when the
// log holds the previous state) and after, or Removed.
type FieldChange struct {
	Path    string `json:"path"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	Removed bool   `json:"removed,omitempty"`
}

// String renders "path: from → to", "path: to" or "path: removed".
func (c FieldChange) String() string {
	switch {
	case c.Removed && c.From != "":
		return c.Path + ": " + c.From + " → (removed)"
	case c.Removed:
		return c.Path + ": (removed)"
	case c.From != "":
		return c.Path + ": " + c.From + " → " + c.To
	}
	return c.Path + ": " + c.To
}

type leaf struct {
	path, value string
}

const (
	maxLeaves   = 4000
	maxValueLen = 120
)

// skipMeta are fields every write changes or the server sets; a change
// summary without them says what the user changed.
var skipMeta = map[string]bool{
	"metadata.managedFields": true, "metadata.resourceVersion": true, "metadata.generation": true,
	"metadata.creationTimestamp": true, "metadata.uid": true, "metadata.selfLink": true,
	"metadata.name": true, "metadata.namespace": true, "kind": true, "apiVersion": true,
}

// flatten lists the leaves of an object as path/value pairs in document
// order. keepStatus keeps .status (status subresource writes).
func flatten(v *fastjson.Value, keepStatus bool) []leaf {
	if v == nil {
		return nil
	}
	var out []leaf
	var walk func(v *fastjson.Value, path string, depth int)
	walk = func(v *fastjson.Value, path string, depth int) {
		if len(out) >= maxLeaves || depth > 64 {
			return
		}
		if skipMeta[path] || (!keepStatus && path == "status") {
			return
		}
		switch v.Type() {
		case fastjson.TypeObject:
			o, _ := v.Object()
			if o.Len() == 0 {
				if path != "" {
					out = append(out, leaf{path, "{}"})
				}
				return
			}
			o.Visit(func(k []byte, c *fastjson.Value) {
				if strings.HasPrefix(string(k), "$setElementOrder/") || string(k) == "$retainKeys" {
					return
				}
				walk(c, joinKey(path, string(k)), depth+1)
			})
		case fastjson.TypeArray:
			a, _ := v.Array()
			if len(a) == 0 {
				out = append(out, leaf{path, "[]"})
				return
			}
			for i, c := range a {
				walk(c, path+"["+elemKey(c, i)+"]", depth+1)
			}
		default:
			out = append(out, leaf{path, render(v)})
		}
	}
	walk(v, "", 0)
	return out
}

// elemKey names an array element by its "name" (containers, env, ports),
// else by its uid (ownerReferences), else by its index.
func elemKey(v *fastjson.Value, i int) string {
	if v.Type() == fastjson.TypeObject {
		for _, k := range []string{"name", "uid"} {
			if s := v.GetStringBytes(k); len(s) > 0 {
				return string(s)
			}
		}
	}
	return strconv.Itoa(i)
}

func joinKey(path, k string) string {
	if strings.ContainsAny(k, "./[] ") {
		k = "[" + k + "]"
		if path == "" {
			return k
		}
		return path + k
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

func render(v *fastjson.Value) string {
	var s string
	if v.Type() == fastjson.TypeString {
		s = string(v.GetStringBytes())
	} else {
		s = string(v.MarshalTo(nil))
	}
	return truncate(s)
}

func truncate(s string) string {
	if len(s) <= maxValueLen {
		return s
	}
	cut := maxValueLen
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

func toMap(ls []leaf) map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.path] = l.value
	}
	return m
}

// patchChanges turns a merge or strategic-merge patch into field changes,
// taking old values from prev when known. A null sets "removed".
func patchChanges(ls []leaf, prev map[string]string) []FieldChange {
	out := make([]FieldChange, 0, len(ls))
	for _, l := range ls {
		c := FieldChange{Path: l.path, To: l.value}
		if l.value == "null" {
			c.To, c.Removed = "", true
		}
		if prev != nil {
			if old, ok := prev[l.path]; ok {
				if old == l.value {
					continue // no change
				}
				c.From = old
			}
		}
		out = append(out, c)
	}
	return out
}

// diff compares two states, sorted by path.
func diff(prev, next map[string]string) []FieldChange {
	var out []FieldChange
	for p, v := range next {
		if old, ok := prev[p]; !ok || old != v {
			out = append(out, FieldChange{Path: p, From: old, To: v})
		}
	}
	for p, old := range prev {
		if _, ok := next[p]; !ok {
			out = append(out, FieldChange{Path: p, From: old, Removed: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// headline picks the fields that say what a new object is: replicas,
// images, node, service account, type.
func headline(ls []leaf) []FieldChange {
	var out []FieldChange
	for _, l := range ls {
		p := l.path
		if p == "spec.replicas" || strings.HasSuffix(p, "].image") || p == "spec.nodeName" ||
			p == "spec.serviceAccountName" || p == "spec.type" || p == "type" || p == "spec.schedule" ||
			strings.HasPrefix(p, "roleRef.") || strings.HasPrefix(p, "subjects[") ||
			strings.HasPrefix(p, "data") || strings.HasPrefix(p, "stringData") {
			out = append(out, FieldChange{Path: p, To: l.value})
		}
		if len(out) == 8 {
			break
		}
	}
	return out
}

// jsonPatchChanges reads an RFC 6902 JSON patch ([{op, path, value}]).
func jsonPatchChanges(raw []byte) []FieldChange {
	var p fastjson.Parser
	v, err := p.ParseBytes(raw)
	if err != nil {
		return nil
	}
	ops, err := v.Array()
	if err != nil {
		return nil
	}
	var out []FieldChange
	for _, op := range ops {
		path := pointerPath(string(op.GetStringBytes("path")))
		switch string(op.GetStringBytes("op")) {
		case "remove":
			out = append(out, FieldChange{Path: path, Removed: true})
		case "add", "replace":
			val := op.Get("value")
			if val == nil {
				out = append(out, FieldChange{Path: path, To: "null"})
				continue
			}
			if val.Type() == fastjson.TypeObject || val.Type() == fastjson.TypeArray {
				for _, l := range flatten(val, true) {
					out = append(out, FieldChange{Path: joinPath(path, l.path), To: l.value})
				}
				if len(out) > 0 {
					continue
				}
			}
			out = append(out, FieldChange{Path: path, To: render(val)})
		case "move", "copy":
			out = append(out, FieldChange{Path: path, To: "(" + string(op.GetStringBytes("op")) + " from " + pointerPath(string(op.GetStringBytes("from"))) + ")"})
		}
	}
	return out
}

func joinPath(base, rest string) string {
	if rest == "" {
		return base
	}
	if strings.HasPrefix(rest, "[") {
		return base + rest
	}
	return base + "." + rest
}

// pointerPath turns a JSON pointer (/spec/containers/0/env) into the dotted
// form (spec.containers[0].env).
func pointerPath(p string) string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return ""
	}
	var b strings.Builder
	for i, part := range strings.Split(p, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(part); err == nil && i > 0 {
			b.WriteString("[" + part + "]")
			continue
		}
		if strings.ContainsAny(part, "./[] ") {
			b.WriteString("[" + part + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(part)
	}
	return b.String()
}
