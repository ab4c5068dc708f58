package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/apis/audit/validation"
	auditpkg "k8s.io/apiserver/pkg/audit"
	auditpolicy "k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Pos is a place in a policy file; Line and Col are 1-based, 0 when
// unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"column,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem that keeps a policy from being read.
type Error struct {
	Pos
	Msg string
}

func (e *Error) Error() string { return e.String() + ": " + e.Msg }

// ErrorList is every problem found in one file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// File is one parsed policy.
type File struct {
	// Name is the file's name as given.
	Name string
	// Policy is the policy as kube-apiserver decodes it: the v1 document,
	// strictly decoded and converted to the internal type the evaluator
	// takes. Treat it as read-only (Evaluator works on a copy).
	Policy *auditinternal.Policy
	// doc is the document's top mapping, for positions.
	doc *yaml.Node
}

// Load reads and parses a policy file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes a policy with kube-apiserver's types and validation. Every
// problem is an *Error with the file, line and column, in an ErrorList.
// Unknown and duplicate fields are errors: kube-apiserver itself falls back
// to lenient decoding with a warning and ignores them, which hides typos.
func Parse(name string, data []byte) (*File, error) {
	f := &File{Name: name}
	errAt := func(n *yaml.Node, format string, args ...any) error {
		return ErrorList{{Pos: f.nodePos(n), Msg: fmt.Sprintf(format, args...)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrorList{{Pos: Pos{File: name}, Msg: "empty file: want an audit.k8s.io/v1 Policy"}}
		}
		return nil, f.yamlError(err)
	}
	var second yaml.Node
	if err := dec.Decode(&second); err == nil {
		return nil, errAt(&second, "a second YAML document: a policy file holds one Policy")
	} else if !errors.Is(err, io.EOF) {
		return nil, f.yamlError(err)
	}
	if len(root.Content) == 0 {
		return nil, ErrorList{{Pos: Pos{File: name}, Msg: "empty file: want an audit.k8s.io/v1 Policy"}}
	}
	f.doc = root.Content[0]
	if f.doc.Kind != yaml.MappingNode {
		return nil, errAt(f.doc, "want a mapping (apiVersion: audit.k8s.io/v1, kind: Policy, rules: ...)")
	}
	key, val := mapLookup(f.doc, "apiVersion")
	switch {
	case val == nil:
		return nil, errAt(f.doc, "no apiVersion: want apiVersion: audit.k8s.io/v1")
	case val.Value == "audit.k8s.io/v1beta1" || val.Value == "audit.k8s.io/v1alpha1":
		return nil, errAt(val, "%s was removed in Kubernetes 1.24 and kube-apiserver refuses it: use audit.k8s.io/v1 (the fields are the same)", val.Value)
	case val.Value != auditv1.SchemeGroupVersion.String():
		return nil, errAt(val, "apiVersion %q: want audit.k8s.io/v1", val.Value)
	}
	_ = key
	if _, kind := mapLookup(f.doc, "kind"); kind == nil {
		return nil, errAt(f.doc, "no kind: want kind: Policy")
	} else if kind.Value != "Policy" {
		return nil, errAt(kind, "kind %q: want Policy", kind.Value)
	}

	p := &auditinternal.Policy{}
	strict := serializer.NewCodecFactory(auditpkg.Scheme, serializer.EnableStrict).UniversalDecoder()
	if _, _, err := strict.Decode(data, nil, p); err != nil {
		return nil, f.decodeError(err)
	}
	var errs ErrorList
	for _, e := range validation.ValidatePolicy(p) {
		errs = append(errs, &Error{Pos: f.FieldPos(e.Field), Msg: e.Error()})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(p.Rules) == 0 {
		return nil, errAt(f.doc, "no rules: kube-apiserver refuses a policy without rules")
	}
	f.Policy = p
	return f, nil
}

// Evaluator is kube-apiserver's own policy rule evaluator for a policy,
// and which rule decides.
type Evaluator struct {
	real auditpkg.PolicyRuleEvaluator
	// rules[i] evaluates rule i alone at level Metadata, so that whether it
	// matches shows in the level (a rule of level None matching and no
	// rule matching look alike otherwise).
	rules []auditpkg.PolicyRuleEvaluator
}

// NewEvaluator builds the evaluators (on copies: kube-apiserver's folds
// the policy's omitStages into each rule's).
func NewEvaluator(f *File) *Evaluator {
	e := &Evaluator{real: auditpolicy.NewPolicyRuleEvaluator(f.Policy.DeepCopy())}
	for _, r := range f.Policy.Rules {
		one := r.DeepCopy()
		one.Level = auditinternal.LevelMetadata
		e.rules = append(e.rules, auditpolicy.NewPolicyRuleEvaluator(&auditinternal.Policy{Rules: []auditinternal.PolicyRule{*one}}))
	}
	return e
}

// Evaluate returns what kube-apiserver decides for a request (level,
// stages omitted, managed fields omitted) and the index of the rule that
// decided it, -1 when none matched.
func (e *Evaluator) Evaluate(attrs authorizer.Attributes) (int, auditpkg.RequestAuditConfig) {
	cfg := e.real.EvaluatePolicyRule(attrs)
	for i, r := range e.rules {
		if r.EvaluatePolicyRule(attrs).Level == auditinternal.LevelMetadata {
			return i, cfg
		}
	}
	return -1, cfg
}

var (
	yamlLineRE   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	dupKeyRE     = regexp.MustCompile(`line (\d+): key "([^"]*)" already set in map`)
	unknownRE    = regexp.MustCompile(`unknown field "([^"]*)"`)
	duplicateRE  = regexp.MustCompile(`duplicate field "([^"]*)"`)
	typeErrRE    = regexp.MustCompile(`cannot unmarshal (\w+) into Go struct field \w+\.([\w.]+) of type (\S+)`)
	strictPrefix = "strict decoding error: "
)

func (f *File) yamlError(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return ErrorList{{Pos: Pos{File: f.Name, Line: line}, Msg: m[2]}}
	}
	return ErrorList{{Pos: Pos{File: f.Name}, Msg: strings.TrimPrefix(msg, "yaml: ")}}
}

// decodeError turns the apiserver decoder's errors into positioned ones.
func (f *File) decodeError(err error) error {
	var errs ErrorList
	if se, ok := runtime.AsStrictDecodingError(err); ok {
		for _, e := range se.Errors() {
			for _, part := range strings.Split(strings.TrimPrefix(e.Error(), strictPrefix), "\n") {
				part = strings.TrimSpace(part)
				switch m := dupKeyRE.FindStringSubmatch(part); {
				case m != nil:
					line, _ := strconv.Atoi(m[1])
					errs = append(errs, &Error{Pos: f.keyOnLine(line, m[2]), Msg: fmt.Sprintf("duplicate field %q: kube-apiserver would keep the last one", m[2])})
					continue
				}
				if m := unknownRE.FindStringSubmatch(part); m != nil {
					path := m[1]
					errs = append(errs, &Error{Pos: f.keyPos(path), Msg: fmt.Sprintf("unknown field %q: kube-apiserver would ignore it (with a warning)%s", path, suggestField(path))})
				} else if m := duplicateRE.FindStringSubmatch(part); m != nil {
					errs = append(errs, &Error{Pos: f.keyPos(m[1]), Msg: fmt.Sprintf("duplicate field %q: kube-apiserver would keep the last one", m[1])})
				} else if part != "" && part != "yaml: unmarshal errors:" {
					errs = append(errs, &Error{Pos: Pos{File: f.Name}, Msg: part})
				}
			}
		}
		sortErrors(errs)
		return errs
	}
	msg := err.Error()
	if m := typeErrRE.FindStringSubmatch(msg); m != nil {
		pos, path := f.typeErrorPos(m[2], m[1])
		return ErrorList{{Pos: pos, Msg: fmt.Sprintf("%s: want %s, got %s", path, goTypeName(m[3]), yamlKindName(m[1]))}}
	}
	return ErrorList{{Pos: Pos{File: f.Name}, Msg: msg}}
}

// fieldNames are the fields of a policy and of its rules, for suggestions.
var fieldNames = []string{"apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields",
	"level", "users", "userGroups", "verbs", "resources", "namespaces", "nonResourceURLs",
	"group", "resourceNames"}

func suggestField(path string) string {
	name := path
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		name = path[i+1:]
	}
	best, bestD := "", 3
	for _, n := range fieldNames {
		if d := editDistance(strings.ToLower(name), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" || best == name {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case t == "bool" || t == "*bool":
		return "true or false"
	case t == "string" || strings.HasSuffix(t, ".Level") || strings.HasSuffix(t, ".Stage"):
		return "a string"
	}
	return "a mapping"
}

func yamlKindName(jsonKind string) string {
	switch jsonKind {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	}
	return "a " + jsonKind
}

func sortErrors(l ErrorList) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && less(l[j].Pos, l[j-1].Pos); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

func less(a, b Pos) bool {
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Col < b.Col
}

func (f *File) nodePos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: f.Name}
	}
	return Pos{File: f.Name, Line: n.Line, Col: n.Column}
}

// mapLookup returns the key and value nodes of a mapping's key.
func mapLookup(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// segment is one step of a field path: a key, or an index when key is "".
type segment struct {
	key   string
	index int
}

// splitPath reads the apiserver's field paths: rules[2].resources[0].group.
func splitPath(path string) []segment {
	var out []segment
	for _, part := range strings.Split(path, ".") {
		name := part
		var idx []int
		for {
			open := strings.IndexByte(name, '[')
			if open < 0 || !strings.HasSuffix(name, "]") {
				break
			}
			close := strings.IndexByte(name[open:], ']') + open
			n, err := strconv.Atoi(name[open+1 : close])
			if err != nil {
				break
			}
			idx = append(idx, n)
			name = name[:open] + name[close+1:]
		}
		if name != "" {
			out = append(out, segment{key: name})
		}
		for _, i := range idx {
			out = append(out, segment{index: i})
		}
	}
	return out
}

// walk follows a path as far as the document has it, returning the last
// key node and value node reached.
func (f *File) walk(path string) (key, val *yaml.Node) {
	val = f.doc
	for _, s := range splitPath(path) {
		if val == nil {
			break
		}
		if s.key != "" {
			k, v := mapLookup(val, s.key)
			if k == nil {
				break
			}
			key, val = k, v
			continue
		}
		if val.Kind != yaml.SequenceNode || s.index >= len(val.Content) {
			break
		}
		key, val = nil, val.Content[s.index]
	}
	return key, val
}

// FieldPos is where the value at an apiserver field path is
// (rules[2].resources[0]); as near as the document has it.
func (f *File) FieldPos(path string) Pos {
	if f.doc == nil {
		return Pos{File: f.Name}
	}
	_, v := f.walk(path)
	return f.nodePos(v)
}

// keyPos is where the key of a field path is, for unknown fields.
func (f *File) keyPos(path string) Pos {
	if f.doc == nil {
		return Pos{File: f.Name}
	}
	segs := splitPath(path)
	if len(segs) == 0 {
		return f.nodePos(f.doc)
	}
	last := segs[len(segs)-1]
	parent := ""
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		parent = path[:i]
	}
	_, pv := f.walk(parent)
	if parent == "" {
		pv = f.doc
	}
	if k, _ := mapLookup(pv, last.key); k != nil {
		return f.nodePos(k)
	}
	return f.nodePos(pv)
}

// keyOnLine finds the key on a line (sigs.k8s.io/yaml reports duplicate
// keys by line only).
func (f *File) keyOnLine(line int, key string) Pos {
	var found *yaml.Node
	var visit func(n *yaml.Node)
	visit = func(n *yaml.Node) {
		if n == nil || found != nil {
			return
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Line == line && k.Value == key {
					found = k
					return
				}
			}
		}
		for _, c := range n.Content {
			visit(c)
		}
	}
	visit(f.doc)
	if found == nil {
		return Pos{File: f.Name, Line: line}
	}
	return f.nodePos(found)
}

// typeErrorPos finds the first node at a dotted path (any list index) of
// the JSON kind the decoder complained about, and its path with indices.
func (f *File) typeErrorPos(path, jsonKind string) (Pos, string) {
	var found *yaml.Node
	var foundPath string
	var visit func(n *yaml.Node, keys []string, at string)
	visit = func(n *yaml.Node, keys []string, at string) {
		if n == nil || found != nil {
			return
		}
		if n.Kind == yaml.SequenceNode && len(keys) > 0 {
			for i, c := range n.Content {
				visit(c, keys, fmt.Sprintf("%s[%d]", at, i))
			}
			return
		}
		if len(keys) == 0 {
			if kindOf(n) == jsonKind {
				found, foundPath = n, at
			}
			return
		}
		if _, v := mapLookup(n, keys[0]); v != nil {
			next := keys[0]
			if at != "" {
				next = at + "." + keys[0]
			}
			if len(keys) == 1 && v.Kind == yaml.SequenceNode && jsonKind != "array" {
				for i, c := range v.Content {
					if kindOf(c) == jsonKind {
						found, foundPath = c, fmt.Sprintf("%s[%d]", next, i)
						return
					}
				}
			}
			visit(v, keys[1:], next)
		}
	}
	visit(f.doc, strings.Split(path, "."), "")
	if found == nil {
		_, v := f.walk(path)
		return f.nodePos(v), path
	}
	return f.nodePos(found), foundPath
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "object"
	case yaml.SequenceNode:
		return "array"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			return "number"
		case "!!bool":
			return "bool"
		case "!!null":
			return "null"
		}
		return "string"
	}
	return ""
}

// RulePos is where rule i (0-based) starts.
func (f *File) RulePos(i int) Pos { return f.FieldPos(fmt.Sprintf("rules[%d]", i)) }

// TopPos is where a top-level field is, or the document's start when the
// policy does not have it.
func (f *File) TopPos(field string) Pos {
	if k, _ := mapLookup(f.doc, field); k != nil {
		return f.nodePos(k)
	}
	return f.nodePos(f.doc)
}
