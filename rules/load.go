package rules

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Set is the rules a run uses: the shipped ones, then the user's files,
// whose rules add to or replace shipped ones by id, and whose
// "- id: X\n  enabled: false" entries disable them.
type Set struct {
	// Rules are every known rule, sorted by id; disabled ones included.
	Rules []*Rule
}

// Enabled returns the enabled rules, sorted by id.
func (s *Set) Enabled() []*Rule {
	var out []*Rule
	for _, r := range s.Rules {
		if r.Enabled {
			out = append(out, r)
		}
	}
	return out
}

// Get returns the rule with this id, or nil.
func (s *Set) Get(id string) *Rule {
	for _, r := range s.Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// IsTestFile reports a promtool-style test file (name_test.yaml), which
// rule directories hold beside the rules.
func IsTestFile(name string) bool {
	base := filepath.Base(name)
	return strings.HasSuffix(base, "_test.yaml") || strings.HasSuffix(base, "_test.yml")
}

func isRuleFile(name string) bool {
	return (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) && !IsTestFile(name)
}

// ParseFS parses and compiles every rule file (not *_test.yaml) at the top
// of a file system, such as the embedded shipped rules.
func ParseFS(fsys fs.FS, prefix string) ([]*Rule, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var all []*Rule
	var errs ErrorList
	for _, e := range entries {
		if e.IsDir() || !isRuleFile(e.Name()) {
			continue
		}
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		rs, perrs := ParseAndCompile(prefix+e.Name(), data)
		errs = append(errs, perrs...)
		all = append(all, rs...)
	}
	return all, errs.Err()
}

// ParseAndCompile parses one file and compiles its rules, returning every
// problem of both steps.
func ParseAndCompile(name string, data []byte) ([]*Rule, ErrorList) {
	rs, errs := Parse(name, data)
	// Rules compile independently, on every core: expr's checker makes
	// this most of detect's start (12 ms for the shipped rules on one).
	cerrs := make([]ErrorList, len(rs))
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(rs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(rs) {
					return
				}
				cerrs[i] = Compile(rs[i])
			}
		})
	}
	wg.Wait()
	var ok []*Rule
	for i, r := range rs {
		if len(cerrs[i]) > 0 {
			errs = append(errs, cerrs[i]...)
			continue
		}
		ok = append(ok, r)
	}
	errs.Sort()
	return ok, errs
}

// RuleFiles expands --rules arguments: files as given, directories to the
// rule files they hold (not *_test.yaml), sorted.
func RuleFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("--rules: %w", err)
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, fmt.Errorf("--rules: %w", err)
		}
		var found []string
		for _, e := range entries {
			if !e.IsDir() && isRuleFile(e.Name()) {
				found = append(found, filepath.Join(a, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("--rules: %s holds no rule files (*.yaml)", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// Load builds a Set from shipped rules and user rule files. All problems of
// all files are returned together.
func Load(builtin []*Rule, files []string) (*Set, error) {
	byID := map[string]*Rule{}
	for _, r := range builtin {
		r.Builtin = true
		byID[r.ID] = r
	}
	var errs ErrorList
	defined := map[string]Pos{}
	var overrides []*Rule
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, &Error{Pos: Pos{File: f}, Msg: err.Error()})
			continue
		}
		rs, perrs := ParseAndCompile(f, data)
		errs = append(errs, perrs...)
		for _, r := range rs {
			if r.Override {
				overrides = append(overrides, r)
				continue
			}
			if prev, dup := defined[r.ID]; dup {
				errs = append(errs, &Error{Pos: r.Pos, Rule: r.ID, Msg: fmt.Sprintf("rule defined twice (also at %s)", prev)})
				continue
			}
			defined[r.ID] = r.Pos
			byID[r.ID] = r
		}
	}
	for _, o := range overrides {
		r, ok := byID[o.ID]
		if !ok {
			errs = append(errs, &Error{Pos: o.Pos, Rule: o.ID, Msg: "enabled: no such rule to enable or disable"})
			continue
		}
		r.Enabled = o.Enabled
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	s := &Set{}
	for _, r := range byID {
		s.Rules = append(s.Rules, r)
	}
	sort.Slice(s.Rules, func(i, j int) bool { return s.Rules[i].ID < s.Rules[j].ID })
	return s, nil
}
