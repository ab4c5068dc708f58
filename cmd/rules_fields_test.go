package cmd

import (
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// TestRulesFields: `rules fields` prints the catalog, one line per name
// with its type, source and description, in the catalog's order.
func TestRulesFields(t *testing.T) {
	out, _, err := runCmd(t, "", "rules", "fields")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "EVENT NAME") {
		t.Fatalf("header %q", lines[0])
	}
	fs := audit.Fields()
	for i, f := range fs {
		if i+1 >= len(lines) {
			t.Fatalf("%d lines for %d names", len(lines), len(fs))
		}
		cols := strings.Fields(lines[i+1])
		if len(cols) < 3 || cols[0] != f.Signature() || cols[1] != f.Type || !strings.HasSuffix(lines[i+1], "  "+f.Desc) {
			t.Errorf("line %d: %q, want %s %s ... %s", i+1, lines[i+1], f.Signature(), f.Type, f.Desc)
		}
	}
}
