package top

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// rowsBy counts the test events by one --by value and returns each row's
// key values (joined by "|") with its count, plus the table's names.
func rowsBy(t *testing.T, by string) (map[string]int64, []string) {
	t.Helper()
	keys, err := ParseKeys(by)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Options{Groupings: [][]KeySpec{keys}})
	for _, e := range scanned(t) {
		a.Event(e)
	}
	res, err := Merge([]*Aggregator{a}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tb := res.Tables[0]
	rows := map[string]int64{}
	for _, r := range tb.Rows {
		var vals []string
		for _, n := range tb.By {
			vals = append(vals, r.Key[n])
		}
		rows[strings.Join(vals, "|")] = r.Count
	}
	return rows, tb.By
}

// TestByNames: --by takes the expression names case-insensitively, and
// today's spellings: both give the same table under today's names.
func TestByNames(t *testing.T) {
	tests := []struct{ by, same, name string }{
		{"userAgent", "useragent", KeyUserAgent},
		{"USERAGENT", "useragent", KeyUserAgent},
		{"sourceIP", "sourceip", KeySourceIP},
		{"serviceAccount", "serviceaccount", KeyServiceAccount},
		{"resourceKey", "resource", KeyResource},
		{"groups", "group", KeyGroup},
		{"Verb", "verb", KeyVerb},
		{"userAgent,resourceKey", "useragent,resource", KeyUserAgent + "," + KeyResource},
	}
	for _, tt := range tests {
		t.Run(tt.by, func(t *testing.T) {
			got, gotBy := rowsBy(t, tt.by)
			want, wantBy := rowsBy(t, tt.same)
			if strings.Join(gotBy, ",") != tt.name || !reflect.DeepEqual(gotBy, wantBy) {
				t.Errorf("--by %s is named %v, want %s", tt.by, gotBy, tt.name)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("--by %s = %v\nwant %v (--by %s)", tt.by, got, want, tt.same)
			}
			if len(got) < 2 {
				t.Errorf("--by %s: %d rows: the test events should differ", tt.by, len(got))
			}
		})
	}
}

// TestKeysAreTheirNames: each listed key is a --by name, and it names
// itself in the output.
func TestKeysAreTheirNames(t *testing.T) {
	for _, k := range Keys {
		ks, err := ParseKeys(k)
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if ks[0].Name != k {
			t.Errorf("--by %s is named %q", k, ks[0].Name)
		}
	}
}

// TestByEveryField: every event field with a fast getter is a --by key
// that counts as the same expression key does, and no other field is
// (groups aside, one row per group). The keys shown their own way
// (useragent's program name, code's "" for none, node's "unknown",
// resource meaning resourceKey) are left to TestByNames and cmd's golden
// files.
func TestByEveryField(t *testing.T) {
	for _, f := range audit.Fields() {
		if f.GetString == nil {
			if _, err := ParseKeys(f.Name); err == nil && f.Name != "groups" {
				t.Errorf("--by %s (%s): accepted, but it has no getter", f.Name, f.Type)
			}
			continue
		}
		switch f.Name {
		case "userAgent", "code", "node", "resource":
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			got, by := rowsBy(t, f.Name)
			want, _ := rowsBy(t, "expr:"+f.Name)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("--by %s = %v\nwant %v (expr:%s)", f.Name, got, want, f.Name)
			}
			name := strings.ToLower(f.Name)
			if f.Name == "resourceKey" {
				name = KeyResource
			}
			if by[0] != name {
				t.Errorf("--by %s is named %q, want %q", f.Name, by[0], name)
			}
		})
	}
}
