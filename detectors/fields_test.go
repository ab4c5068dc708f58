package detectors_test

import (
	"reflect"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/detectors"
)

// TestPlainFieldAggregates: aggregates of plain event fields (read by the
// fast getters, without an expression) give what the same aggregate of an
// expression gives, numbers and bools keeping their type.
func TestPlainFieldAggregates(t *testing.T) {
	const rule = `
- id: aggs
  title: aggs
  severity: low
  match: verb == "get"
  group_by: [user, code, longRunning]
  values:
    maxCode: max(code)
    maxCodeExpr: max(code + 0)
    lastCode: last(code)
    lastCodeExpr: last(code + 0)
    firstLong: first(longRunning)
    firstLongExpr: first(longRunning || false)
    codes: values(code)
    codesExpr: values(code + 0)
    users: distinct(user)
    usersExpr: distinct(user + "")
    lastSA: last(serviceAccount)
    lastSAExpr: last(serviceAccount + "")
  summary: x
`
	const events = `
- {at: 0s, user: "system:serviceaccount:ns:a", verb: get, objectRef: {resource: pods}, code: 404}
- {at: 1s, user: "system:serviceaccount:ns:b", verb: get, objectRef: {resource: pods}, code: 404}
`
	res := run(t, rule, events, 1, detectors.Options{})
	if len(res.Findings) != 2 {
		t.Fatalf("findings: %+v", res.Findings)
	}
	for _, f := range res.Findings {
		for _, pair := range [][2]string{{"maxCode", "maxCodeExpr"}, {"lastCode", "lastCodeExpr"}, {"firstLong", "firstLongExpr"},
			{"codes", "codesExpr"}, {"users", "usersExpr"}, {"lastSA", "lastSAExpr"}} {
			got, want := f.Values[pair[0]], f.Values[pair[1]]
			if !reflect.DeepEqual(got, want) {
				t.Errorf("key %v: %s = %#v, want %#v as %s gives", f.Key, pair[0], got, want, pair[1])
			}
		}
		if f.Key["code"] != "404" || f.Key["longRunning"] != "false" {
			t.Errorf("key %v: want code 404 and longRunning false", f.Key)
		}
	}
}
