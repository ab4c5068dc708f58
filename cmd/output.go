package cmd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// outputFormats is what one command's -o accepts. The flag's help lists
// the formats ("output format: a, b, or c (note)"), which is also what
// completion offers; Validate checks a value with the one message all
// commands give; writeData writes json and yaml. cli-runtime's
// PrintFlags does the same for runtime.Objects, which these results are
// not.
type outputFormats struct {
	allowed []string
	// note follows the list in the help, in parentheses.
	note string
	// none accepts no -o at all: the command's default (version's line
	// of text) is none of the formats.
	none bool
}

// AddFlag adds -o/--output, bound to value (its default is value's).
func (f outputFormats) AddFlag(fs *pflag.FlagSet, value *string) {
	fs.StringVarP(value, "output", "o", *value, f.help())
}

func (f outputFormats) help() string {
	list := strings.Join(f.allowed, ", ")
	if n := len(f.allowed); n > 1 {
		list = strings.Join(f.allowed[:n-1], ", ") + ", or " + f.allowed[n-1]
	}
	if f.note != "" {
		list += " (" + f.note + ")"
	}
	return "output format: " + list
}

// Validate accepts the listed formats, and "" when none is set.
func (f outputFormats) Validate(value string) error {
	if value == "" && f.none {
		return nil
	}
	for _, a := range f.allowed {
		if value == a {
			return nil
		}
	}
	return fmt.Errorf("--output must be one of %s; got %q", strings.Join(f.allowed, ", "), value)
}

// writeJSONList writes v as writeData writes JSON, but for the elements of
// its top-level list key, which v holds empty: those are encoded one at a
// time as they are written. A detect run over a long log does not then
// hold its findings' JSON twice (encoded, then indented) beside the
// findings themselves.
func writeJSONList[T any](w io.Writer, v any, key string, items []T) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	// A newline inside a JSON string is escaped: this is the key itself.
	marker := []byte("\n  " + strconv.Quote(key) + ": []")
	i := bytes.Index(b, marker)
	if i < 0 || len(items) == 0 {
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	// bufio keeps the first write error, and Flush returns it.
	bw := bufio.NewWriterSize(w, 64<<10)
	_, _ = bw.Write(b[:i+len(marker)-1]) // through '['
	for j := range items {
		sep := ",\n    "
		if j == 0 {
			sep = "\n    "
		}
		_, _ = bw.WriteString(sep)
		eb, err := json.MarshalIndent(&items[j], "    ", "  ")
		if err != nil {
			return err
		}
		_, _ = bw.Write(eb)
	}
	_, _ = bw.WriteString("\n  ]")
	_, _ = bw.Write(b[i+len(marker):])
	_, _ = bw.WriteString("\n")
	return bw.Flush()
}

// writeData writes v as indented JSON or, for "yaml", as YAML.
func writeData(w io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
