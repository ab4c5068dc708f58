package ruletest_test

import (
	"io/fs"
	"sort"
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/detectors/ruletest"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
)

// TestShippedRules runs every shipped rule file's tests and fails when a
// shipped rule lacks a test that makes it fire or one that makes it stay
// silent.
func TestShippedRules(t *testing.T) {
	rs, err := builtin.Rules()
	if err != nil {
		t.Fatalf("shipped rules do not load:\n%v", err)
	}
	if len(rs) < 30 {
		t.Errorf("%d shipped rules, want at least 30", len(rs))
	}
	positive, negative := map[string]bool{}, map[string]bool{}
	files, _ := fs.Glob(builtin.FS(), "*.yaml")
	ruleFiles := 0
	for _, f := range files {
		if !rules.IsTestFile(f) {
			ruleFiles++
			if _, err := fs.Stat(builtin.FS(), strings.TrimSuffix(f, ".yaml")+"_test.yaml"); err != nil {
				t.Errorf("%s has no test file beside it", f)
			}
			continue
		}
		t.Run(f, func(t *testing.T) {
			rep, err := ruletest.RunFile(builtin.FS(), f, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range rep.Failures {
				t.Error(msg)
			}
			for id := range rep.Positive {
				positive[id] = true
			}
			for id := range rep.Negative {
				negative[id] = true
			}
		})
	}
	var missing []string
	for _, r := range rs {
		if !positive[r.ID] {
			missing = append(missing, r.ID+" (no test where it fires)")
		}
		if !negative[r.ID] {
			missing = append(missing, r.ID+" (no test where it must not fire)")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Error(m)
	}
}
