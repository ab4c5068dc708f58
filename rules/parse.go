package rules

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// exprPos maps an offset inside an expression back to the rule file: the
// YAML scalar node that holds it and the file's lines.
type exprPos struct {
	file  string
	node  *yaml.Node
	lines []string
}

// at returns the file position of the expression's offset-th character.
func (p exprPos) at(offset int) Pos {
	if p.node == nil {
		return Pos{File: p.file}
	}
	n := p.node
	if offset < 0 {
		offset = 0
	}
	block := n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	line := n.Line
	col := n.Column
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		col++
	}
	if block {
		// Content starts on the next line, at the block's indentation.
		indent := -1
		for l := n.Line; l < len(p.lines); l++ {
			text := p.lines[l] // line l+1
			if strings.TrimSpace(text) == "" {
				continue
			}
			indent = len(text) - len(strings.TrimLeft(text, " "))
			break
		}
		if indent < 0 {
			return Pos{File: p.file, Line: n.Line, Col: n.Column}
		}
		for l := n.Line; l < len(p.lines); l++ {
			text := p.lines[l]
			width := len(text) - indent
			if width < 0 {
				width = 0
			}
			if offset <= width {
				return Pos{File: p.file, Line: l + 1, Col: indent + offset + 1}
			}
			offset -= width + 1
		}
		return Pos{File: p.file, Line: n.Line, Col: n.Column}
	}
	// Plain or quoted: the first line from the node's column, then
	// continuation lines without their indentation.
	for l := line - 1; l < len(p.lines); l++ {
		text := p.lines[l]
		start := 0
		if l == line-1 {
			start = col - 1
		} else {
			start = len(text) - len(strings.TrimLeft(text, " \t"))
		}
		if start > len(text) {
			start = len(text)
		}
		width := len(text) - start
		if offset <= width {
			return Pos{File: p.file, Line: l + 1, Col: start + offset + 1}
		}
		offset -= width + 1
	}
	return Pos{File: p.file, Line: n.Line, Col: n.Column}
}

var idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// identPattern is a name usable in a template and an expression.
var identPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

type parser struct {
	file  string
	data  []byte
	lines []string
	errs  ErrorList
	// cur is the rule being read: errors about missing fields point at it.
	cur *yaml.Node
}

func (p *parser) errorf(n *yaml.Node, rule, format string, args ...any) {
	pos := Pos{File: p.file}
	if n == nil {
		n = p.cur
	}
	if n != nil {
		pos.Line, pos.Col = n.Line, n.Column
	}
	p.errs = append(p.errs, &Error{Pos: pos, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

// Parse reads a rule file strictly. It returns the rules it could read and
// every problem found (unknown or duplicate fields, wrong types, missing
// fields, bad values), each with file:line:col and the rule id. Expressions
// are not compiled here; see Compile.
func Parse(file string, data []byte) ([]*Rule, ErrorList) {
	p := &parser{file: file, data: data, lines: strings.Split(string(data), "\n")}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			p.errorf(nil, "", "no rules: a rule file is a list of rules (- id: ...)")
			return nil, p.errs
		}
		p.errs = append(p.errs, yamlError(file, err))
		return nil, p.errs
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(&extra, "", "more than one YAML document; put all rules in one list")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.SequenceNode {
		p.errorf(root, "", "a rule file is a list of rules (- id: ...), got %s", kindName(root))
		return nil, p.errs
	}
	if len(root.Content) == 0 {
		p.errorf(root, "", "no rules: a rule file is a list of rules (- id: ...)")
	}
	var out []*Rule
	seen := map[string]*yaml.Node{}
	for i, item := range root.Content {
		r := p.rule(item)
		if r == nil {
			continue
		}
		end := len(p.lines)
		if i+1 < len(root.Content) {
			end = root.Content[i+1].Line - 1
		}
		r.Text = p.source(item.Line, end)
		if prev, dup := seen[r.ID]; dup {
			p.errorf(item, r.ID, "duplicate rule id (first defined at line %d)", prev.Line)
			continue
		}
		seen[r.ID] = item
		out = append(out, r)
	}
	p.errs.Sort()
	return out, p.errs
}

func yamlError(file string, err error) *Error {
	// yaml.v3 errors read "yaml: line 3: did not find expected key".
	msg := err.Error()
	line := 0
	if m := regexp.MustCompile(`^yaml: line (\d+): (.*)$`).FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &Error{Pos: Pos{File: file, Line: line, Col: 1}, Msg: "invalid YAML: " + msg}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

var ruleFields = []string{"id", "title", "description", "severity", "needs", "tags", "enabled",
	"match", "group_by", "window", "when", "values", "summary", "advice"}

func (p *parser) rule(n *yaml.Node) *Rule {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "", "a rule is a mapping (id: ..., match: ...), got %s", kindName(n))
		return nil
	}
	p.cur = n
	defer func() { p.cur = nil }()
	fields := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	// The id first, so every other error can name the rule.
	id := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value == "id" && n.Content[i+1].Kind == yaml.ScalarNode {
			id = n.Content[i+1].Value
			break
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, id, "field names must be plain words")
			continue
		}
		if !contains(ruleFields, k.Value) {
			p.errorf(k, id, "unknown field %q%s", k.Value, suggest(k.Value, ruleFields))
			continue
		}
		if prev, dup := keys[k.Value]; dup {
			p.errorf(k, id, "duplicate field %q (first at line %d)", k.Value, prev.Line)
			continue
		}
		keys[k.Value] = k
		fields[k.Value] = v
	}
	r := &Rule{ID: id, Enabled: true, Needs: audit.LevelMetadata, Pos: Pos{File: p.file, Line: n.Line, Col: n.Column}}
	if v, ok := fields["id"]; !ok {
		p.errorf(n, "", "missing field \"id\"")
		return nil
	} else if v.Kind != yaml.ScalarNode || !idPattern.MatchString(v.Value) {
		p.errorf(v, "", "id must be lower-case words joined by dashes (expired-client-certificates), got %s", kindName(v))
		return nil
	}
	if v, ok := fields["enabled"]; ok {
		b, ok := p.boolean(v, id)
		if ok {
			r.Enabled = b
		}
	}
	// An entry with only id and enabled toggles a rule defined elsewhere.
	if len(fields) == 2 && fields["enabled"] != nil {
		r.Override = true
		return r
	}
	if len(fields) == 1 {
		p.errorf(n, id, "a rule needs title, severity, match and summary (or only enabled: false to disable a shipped rule)")
		return nil
	}
	r.Title = p.str(fields, "title", id, true)
	r.Description = p.str(fields, "description", id, false)
	if v, ok := fields["severity"]; !ok {
		p.errorf(n, id, "missing field \"severity\" (one of %s)", strings.Join(severityNames, ", "))
	} else if s, ok := ParseSeverity(scalar(v)); !ok || v.Kind != yaml.ScalarNode {
		p.errorf(v, id, "severity must be one of %s, got %s", strings.Join(severityNames, ", "), kindName(v))
	} else {
		r.Severity = s
	}
	if v, ok := fields["needs"]; ok {
		switch s := scalar(v); s {
		case audit.LevelMetadata, audit.LevelRequest, audit.LevelRequestResponse:
			r.Needs = s
		default:
			p.errorf(v, id, "needs must be Metadata, Request or RequestResponse, got %s", kindName(v))
		}
	}
	if v, ok := fields["tags"]; ok {
		r.Tags = p.strings(v, id, "tags")
	}
	r.Match, r.matchPos = p.expr(fields, "match", id, true)
	if v, ok := fields["group_by"]; ok {
		r.GroupBy = p.groupBy(v, id)
	}
	if v, ok := fields["window"]; ok {
		r.Window = p.window(v, id)
	}
	r.When, r.whenPos = p.expr(fields, "when", id, false)
	if v, ok := fields["values"]; ok {
		r.Values = p.values(v, id)
	}
	r.Summary, r.summaryPos = p.expr(fields, "summary", id, true)
	r.Advice, r.advicePos = p.expr(fields, "advice", id, false)
	p.checkNames(r)
	return r
}

// checkNames rejects group and value names that collide with each other
// or with the names every group has.
func (p *parser) checkNames(r *Rule) {
	seen := map[string]bool{}
	for _, list := range [][]NamedExpr{r.GroupBy, r.Values} {
		for _, ne := range list {
			switch {
			case ne.Name == "":
				continue
			case contains(reservedGroupNames, ne.Name):
				p.errorf(ne.Pos.node, r.ID, "%q is a reserved name (%s); name it something else", ne.Name, strings.Join(reservedGroupNames, ", "))
			case seen[ne.Name]:
				p.errorf(ne.Pos.node, r.ID, "name %q is used twice in group_by/values", ne.Name)
			}
			seen[ne.Name] = true
		}
	}
}

// source returns the file's lines from..to (1-based, inclusive) without
// trailing blank and comment lines, which belong to the next rule.
func (p *parser) source(from, to int) string {
	if from < 1 || from > len(p.lines) {
		return ""
	}
	to = min(to, len(p.lines))
	lines := p.lines[from-1 : to]
	for len(lines) > 1 {
		last := strings.TrimSpace(lines[len(lines)-1])
		if last != "" && !strings.HasPrefix(last, "#") {
			break
		}
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n") + "\n"
}

func scalar(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func (p *parser) str(fields map[string]*yaml.Node, name, id string, required bool) string {
	v, ok := fields[name]
	if !ok {
		if required {
			p.errorf(nil, id, "missing field %q", name)
		}
		return ""
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.errorf(v, id, "%s must be text, got %s", name, kindName(v))
		return ""
	}
	if required && strings.TrimSpace(v.Value) == "" {
		p.errorf(v, id, "%s must not be empty", name)
	}
	return v.Value
}

func (p *parser) expr(fields map[string]*yaml.Node, name, id string, required bool) (string, exprPos) {
	v, ok := fields[name]
	if !ok {
		if required {
			p.errorf(nil, id, "missing field %q", name)
		}
		return "", exprPos{file: p.file}
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.errorf(v, id, "%s must be text, got %s", name, kindName(v))
		return "", exprPos{file: p.file}
	}
	if strings.TrimSpace(v.Value) == "" {
		p.errorf(v, id, "%s must not be empty", name)
	}
	return v.Value, exprPos{file: p.file, node: v, lines: p.lines}
}

func (p *parser) boolean(v *yaml.Node, id string) (bool, bool) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!bool" {
		switch v.Value {
		case "true", "True", "TRUE":
			return true, true
		case "false", "False", "FALSE":
			return false, true
		}
	}
	p.errorf(v, id, "enabled must be true or false, got %s", kindName(v))
	return false, false
}

func (p *parser) strings(v *yaml.Node, id, name string) []string {
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, id, "%s must be a list of words, got %s", name, kindName(v))
		return nil
	}
	var out []string
	for _, it := range v.Content {
		if it.Kind != yaml.ScalarNode || it.Value == "" {
			p.errorf(it, id, "%s must be a list of words, got %s", name, kindName(it))
			continue
		}
		out = append(out, it.Value)
	}
	return out
}

func (p *parser) groupBy(v *yaml.Node, id string) []NamedExpr {
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		p.errorf(v, id, "group_by must be a list of event fields or name: expression pairs, got %s", kindName(v))
		return nil
	}
	var out []NamedExpr
	for _, it := range v.Content {
		switch it.Kind {
		case yaml.ScalarNode:
			if !identPattern.MatchString(it.Value) {
				p.errorf(it, id, "group_by item %q is an expression: give it a name (- name: %s)", it.Value, it.Value)
				continue
			}
			out = append(out, NamedExpr{Name: it.Value, Expr: it.Value, Pos: exprPos{file: p.file, node: it, lines: p.lines}})
		case yaml.MappingNode:
			if len(it.Content) != 2 {
				p.errorf(it, id, "a named group_by item has exactly one name: expression pair")
				continue
			}
			k, e := it.Content[0], it.Content[1]
			if !identPattern.MatchString(k.Value) {
				p.errorf(k, id, "group_by name %q must be a word (letters, digits, _)", k.Value)
				continue
			}
			if e.Kind != yaml.ScalarNode || strings.TrimSpace(e.Value) == "" {
				p.errorf(e, id, "group_by %s must be an expression, got %s", k.Value, kindName(e))
				continue
			}
			out = append(out, NamedExpr{Name: k.Value, Expr: e.Value, Pos: exprPos{file: p.file, node: e, lines: p.lines}})
		default:
			p.errorf(it, id, "group_by items are event fields or name: expression pairs, got %s", kindName(it))
		}
	}
	return out
}

func (p *parser) values(v *yaml.Node, id string) []NamedExpr {
	if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
		p.errorf(v, id, "values must be a mapping of name: group expression, got %s", kindName(v))
		return nil
	}
	var out []NamedExpr
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, e := v.Content[i], v.Content[i+1]
		if !identPattern.MatchString(k.Value) {
			p.errorf(k, id, "value name %q must be a word (letters, digits, _)", k.Value)
			continue
		}
		if e.Kind != yaml.ScalarNode || strings.TrimSpace(e.Value) == "" {
			p.errorf(e, id, "value %s must be an expression, got %s", k.Value, kindName(e))
			continue
		}
		out = append(out, NamedExpr{Name: k.Value, Expr: e.Value, Pos: exprPos{file: p.file, node: e, lines: p.lines}})
	}
	return out
}

// Windows are at most this many slides long, so an event updates a
// bounded number of windows.
const maxSlidesPerWindow = 60

func (p *parser) window(v *yaml.Node, id string) Window {
	var w Window
	switch v.Kind {
	case yaml.ScalarNode:
		w.Size = p.duration(v, id, "window")
	case yaml.MappingNode:
		var sizeNode *yaml.Node
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, d := v.Content[i], v.Content[i+1]
			switch k.Value {
			case "size":
				w.Size = p.duration(d, id, "window size")
				sizeNode = d
			case "slide":
				w.Slide = p.duration(d, id, "window slide")
			default:
				p.errorf(k, id, "unknown window field %q (want size and slide)", k.Value)
			}
		}
		if sizeNode == nil {
			p.errorf(v, id, "window needs a size (window: {size: 10m, slide: 1m})")
			return Window{}
		}
		if w.Slide > 0 && w.Size > 0 {
			switch {
			case w.Slide > w.Size:
				p.errorf(v, id, "window slide %s is longer than its size %s", shortDuration(w.Slide), shortDuration(w.Size))
			case w.Size%w.Slide != 0:
				p.errorf(v, id, "window size %s must be a multiple of its slide %s", shortDuration(w.Size), shortDuration(w.Slide))
			case w.Size/w.Slide > maxSlidesPerWindow:
				p.errorf(v, id, "window size %s is more than %d slides of %s", shortDuration(w.Size), maxSlidesPerWindow, shortDuration(w.Slide))
			}
		}
	default:
		p.errorf(v, id, "window must be a duration (5m) or {size: 10m, slide: 1m}, got %s", kindName(v))
	}
	return w
}

func (p *parser) duration(v *yaml.Node, id, what string) time.Duration {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, id, "%s must be a duration like 5m, got %s", what, kindName(v))
		return 0
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil {
		p.errorf(v, id, "%s must be a duration like 30s, 5m or 1h, got %q", what, v.Value)
		return 0
	}
	if d < time.Second || d%time.Second != 0 {
		p.errorf(v, id, "%s must be a whole number of seconds, at least 1s, got %s", what, v.Value)
		return 0
	}
	return d
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest offers the closest known name for a typo.
func suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
