package cmd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"
)

// TestOutputFlag: every command's -o lists its formats in the help (which
// completion reads) and rejects others with the one message.
func TestOutputFlag(t *testing.T) {
	tests := []struct {
		args    []string
		help    string
		message string
	}{
		{[]string{"detect", "-q", "--no-link", "-f", exampleLog},
			"output format: table, wide, json, yaml, sarif, or rbac (the Role/ClusterRole and binding that would allow what RBAC denied, minus what the live cluster already allows)",
			`--output must be one of table, wide, json, yaml, sarif, rbac; got "bogus"`},
		{[]string{"top", "-q", "--no-link", "-f", exampleLog},
			"output format: table, wide, json, yaml, or csv",
			`--output must be one of table, wide, json, yaml, csv; got "bogus"`},
		{[]string{"why", "-q", "--no-link", "deployment/web", "-n", "demo", "-f", exampleLog},
			"output format: table, json, or yaml",
			`--output must be one of table, json, yaml; got "bogus"`},
		{[]string{"rules", "list"},
			"output format: table, wide, json, or yaml",
			`--output must be one of table, wide, json, yaml; got "bogus"`},
		{[]string{"version"},
			"output format: json (default: one line of text)",
			`--output must be one of json; got "bogus"`},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			root := NewCmdAudit(genericiooptions.NewTestIOStreamsDiscard())
			c, _, err := root.Find(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Flags().Lookup("output").Usage; got != tt.help {
				t.Errorf("help %q\nwant %q", got, tt.help)
			}
			_, _, err = runCmd(t, "", append(tt.args, "-o", "bogus")...)
			if err == nil || err.Error() != tt.message {
				t.Errorf("-o bogus: %v, want %q", err, tt.message)
			}
		})
	}
}

// TestWriteData: the one json and yaml writer writes what each command's
// own writer did (json.Encoder with an indent; YAML from JSON), HTML
// characters escaped as before.
func TestWriteData(t *testing.T) {
	v := map[string]any{"key": "<none>", "n": 3, "list": []string{"a & b"}, "nested": map[string]any{"t": true}}
	var enc bytes.Buffer
	e := json.NewEncoder(&enc)
	e.SetIndent("", "  ")
	if err := e.Encode(v); err != nil {
		t.Fatal(err)
	}
	compact, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(compact)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ format, want string }{{"json", enc.String()}, {"yaml", string(y)}} {
		var b strings.Builder
		if err := writeData(&b, tt.format, v); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.format, b.String(), tt.want)
		}
	}
}

// TestWriteJSONList: streaming a list's elements writes the bytes
// writeData writes for the whole value, wherever the list is, whatever
// its elements hold.
func TestWriteJSONList(t *testing.T) {
	type item struct {
		Name  string            `json:"name"`
		Tags  map[string]string `json:"tags,omitempty"`
		Notes []string          `json:"notes"`
	}
	type doc struct {
		First string `json:"first,omitempty"`
		Items []item `json:"items"`
		Count int    `json:"count"`
		Tail  []int  `json:"tail,omitempty"`
	}
	items := []item{
		{Name: "a <b> & \"c\"", Tags: map[string]string{"z": "1", "a": "2"}},
		{Name: "multi\nline", Notes: []string{"x", "items\": []"}},
		{Name: ""},
	}
	for _, tc := range []struct {
		name string
		v    doc
	}{
		{"list first", doc{Items: items, Count: 3}},
		{"list in the middle", doc{First: "f", Items: items, Count: 3, Tail: []int{1, 2}}},
		{"one element", doc{First: "f", Items: items[:1]}},
		{"empty", doc{First: "f", Items: []item{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got bytes.Buffer
			if err := writeData(&want, "json", tc.v); err != nil {
				t.Fatal(err)
			}
			head := tc.v
			head.Items = []item{}
			if err := writeJSONList(&got, head, "items", tc.v.Items); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("got\n%s\nwant\n%s", got.String(), want.String())
			}
		})
	}
}
