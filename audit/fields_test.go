package audit

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's field table from the catalog")

// v1EventMembers are the JSON members of k8s.io/apiserver's
// audit.k8s.io/v1 Event.
var v1EventMembers = map[string]bool{
	"kind": true, "apiVersion": true, "level": true, "auditID": true, "stage": true, "requestURI": true,
	"verb": true, "user": true, "impersonatedUser": true, "sourceIPs": true, "userAgent": true,
	"objectRef": true, "responseStatus": true, "requestObject": true, "responseObject": true,
	"requestReceivedTimestamp": true, "stageTimestamp": true, "annotations": true,
}

// typeName is how the catalog spells a reflect type.
func typeName(t reflect.Type) string { return strings.ReplaceAll(t.String(), "interface {}", "any") }

// TestFieldsAreExprEnv holds the catalog and ExprEnv to each other: every
// expr tag is in the catalog with its type, in the same order, and every
// catalog entry is a tag.
func TestFieldsAreExprEnv(t *testing.T) {
	var tags []string
	et := reflect.TypeOf(ExprEnv{})
	for i := 0; i < et.NumField(); i++ {
		sf := et.Field(i)
		name := sf.Tag.Get("expr")
		if name == "" {
			continue
		}
		tags = append(tags, name)
		f, ok := LookupField(name)
		if !ok {
			t.Errorf("ExprEnv.%s (expr:%q) is not in the catalog (audit/fields.go)", sf.Name, name)
			continue
		}
		isFunc := sf.Type.Kind() == reflect.Func
		if f.Func != isFunc {
			t.Errorf("%s: catalog Func = %v, ExprEnv.%s is a %s", name, f.Func, sf.Name, sf.Type)
			continue
		}
		if !isFunc {
			if got := typeName(sf.Type); f.Type != got {
				t.Errorf("%s: catalog type %s, ExprEnv.%s is %s", name, f.Type, sf.Name, got)
			}
			continue
		}
		ft := sf.Type
		if ft.NumIn() != len(f.Params) || ft.NumOut() != 1 || typeName(ft.Out(0)) != f.Type {
			t.Errorf("%s: catalog %s %s, ExprEnv.%s is %s", name, f.Signature(), f.Type, sf.Name, ft)
		}
		for i := 0; i < ft.NumIn(); i++ {
			if ft.In(i).Kind() != reflect.String {
				t.Errorf("%s: parameter %d is %s; Signature assumes strings", name, i, ft.In(i))
			}
		}
	}
	var names []string
	for _, f := range Fields() {
		names = append(names, f.Name)
		if f.Desc == "" {
			t.Errorf("%s: no description", f.Name)
		}
		if !f.Func && f.Params != nil {
			t.Errorf("%s: a field with parameters", f.Name)
		}
		if !f.Func && len(f.From) == 0 {
			t.Errorf("%s: a field read from nothing", f.Name)
		}
		for _, from := range f.From {
			if top, _, _ := strings.Cut(from, "."); !v1EventMembers[top] {
				t.Errorf("%s: from %q: not a member of an audit.k8s.io/v1 Event", f.Name, from)
			}
		}
	}
	if !reflect.DeepEqual(names, tags) {
		t.Errorf("catalog order %v\nExprEnv order %v", names, tags)
	}
}

// fieldValue is the ExprEnv field a catalog name is the tag of.
func fieldValue(x *ExprEnv, name string) reflect.Value {
	v := reflect.ValueOf(x).Elem()
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Tag.Get("expr") == name {
			return v.Field(i)
		}
	}
	panic("no ExprEnv field " + name)
}

// TestFieldGetters checks each fast getter against what an expression
// sees: the ExprEnv field, as a group key turns it into a string. Scalars
// (strings, ints, bools) have a getter; the rest run as expressions.
func TestFieldGetters(t *testing.T) {
	for _, f := range Fields() {
		scalar := !f.Func && (f.Type == typeString || f.Type == typeInt || f.Type == typeBool)
		if (f.GetString != nil) != scalar {
			t.Errorf("%s (%s): has a getter: %v, want %v", f.Name, f.Type, f.GetString != nil, scalar)
		}
	}
	env := NewExprEnv()
	var arena []byte
	for i, line := range testEvents(t) {
		var e Event
		if !e.Scan(line) {
			t.Fatalf("line %d: not an event", i+1)
		}
		env.Set(&e)
		arena = arena[:0]
		for _, f := range Fields() {
			if f.GetString == nil {
				continue
			}
			want := fmt.Sprint(fieldValue(env, f.Name).Interface())
			if got := f.GetString(&e, &arena); got != want {
				t.Errorf("line %d: %s: getter %q, expression %q", i+1, f.Name, got, want)
			}
		}
	}
}

// TestRequireFillsLazyFields: Set skips the costly fields no expression
// names, and fills the ones Require names.
func TestRequireFillsLazyFields(t *testing.T) {
	var lazy int
	for _, f := range Fields() {
		if f.lazy == 0 {
			continue
		}
		lazy++
		t.Run(f.Name, func(t *testing.T) {
			full, none, one := NewExprEnv(), NewExprEnv(), NewExprEnv()
			none.Require(nil)
			one.Require([]string{f.Name})
			filled := false
			for _, line := range testEvents(t) {
				var e Event
				e.Scan(line)
				full.Set(&e)
				none.Set(&e)
				one.Set(&e)
				want := fieldValue(full, f.Name).Interface()
				if got := fieldValue(one, f.Name).Interface(); got != want {
					t.Errorf("Require(%s): %q, want %q", f.Name, got, want)
				}
				if got := fieldValue(none, f.Name); !got.IsZero() {
					t.Errorf("Require(nil): %s = %q, want it left empty", f.Name, got)
				}
				filled = filled || !fieldValue(full, f.Name).IsZero()
			}
			if !filled {
				t.Errorf("no test event has a %s: the test would not see it filled", f.Name)
			}
		})
	}
	if lazy == 0 {
		t.Fatal("no lazy fields")
	}
}

const (
	readmeBegin = "<!-- fields: audit/fields.go; go test ./audit -run TestREADMEFields -update -->\n"
	readmeEnd   = "<!-- /fields -->\n"
)

// readmeTable renders the catalog as README's table.
func readmeTable() string {
	md := strings.NewReplacer("*", `\*`, "|", `\|`)
	var b strings.Builder
	b.WriteString("| name | type | from | |\n|---|---|---|---|\n")
	for _, f := range Fields() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Signature(), md.Replace(f.Type), strings.Join(f.From, ", "), md.Replace(f.Desc))
	}
	return b.String()
}

// TestREADMEFields checks README's table of expression names against the
// catalog, the way stern's hack/verify-readme.sh checks its flags; -update
// rewrites it.
func TestREADMEFields(t *testing.T) {
	const file = "../README.md"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(readmeBegin))
	j := bytes.Index(b, []byte(readmeEnd))
	if i < 0 || j < i {
		t.Fatalf("%s: no %q ... %q section", file, strings.TrimSpace(readmeBegin), strings.TrimSpace(readmeEnd))
	}
	got, want := string(b[i+len(readmeBegin):j]), readmeTable()
	if got == want {
		return
	}
	if *update {
		out := append(append(append([]byte(nil), b[:i+len(readmeBegin)]...), want...), b[j:]...)
		if err := os.WriteFile(file, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's field table is not the catalog's (go test ./audit -run TestREADMEFields -update rewrites it):\n got:\n%s\nwant:\n%s", got, want)
}
