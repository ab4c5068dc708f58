package policy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
)

func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return f
}

const head = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"empty", "", "p.yaml: empty file"},
		{"not yaml", "a: [b\n", "p.yaml:"},
		{"list", "- level: None\n", "p.yaml:1:1: want a mapping"},
		{"no apiVersion", "kind: Policy\nrules: []\n", "p.yaml:1:1: no apiVersion"},
		{"v1alpha1", "apiVersion: audit.k8s.io/v1alpha1\nkind: Policy\n", "p.yaml:1:13: audit.k8s.io/v1alpha1 was removed"},
		{"other group", "apiVersion: v1\nkind: Policy\n", `p.yaml:1:13: apiVersion "v1": want audit.k8s.io/v1`},
		{"kind", "apiVersion: audit.k8s.io/v1\nkind: Config\n", `p.yaml:2:7: kind "Config": want Policy`},
		{"no rules", "apiVersion: audit.k8s.io/v1\nkind: Policy\n", "no rules"},
		{"unknown top field", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStage: [RequestReceived]\nrules:\n- level: None\n", `p.yaml:3:1: unknown field "omitStage"`},
		{"unknown nested", head + "- level: None\n  resources:\n  - group: \"\"\n    resource: [pods]\n", `p.yaml:7:5: unknown field "rules[0].resources[0].resource"`},
		{"duplicate", head + "- level: None\n  level: Metadata\n", `p.yaml:5:3: duplicate field "level"`},
		{"bad level", head + "- level: Meta\n", `p.yaml:4:10: rules[0].level: Unsupported value: "Meta"`},
		{"both kinds", head + "- level: None\n  nonResourceURLs: [/a]\n  resources: [{group: \"\"}]\n", `p.yaml:5:20: rules[0].nonResourceURLs: Invalid value`},
		{"type", head + "- level: None\n- level: None\n  users: alice\n", "p.yaml:6:10: rules[1].users: want a list, got a string"},
		{"two documents", head + "- level: None\n---\nkind: Policy\n", "p.yaml:5:1: a second YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParsePositions(t *testing.T) {
	f := mustParse(t, head+"  - level: None\n    nonResourceURLs: [/healthz]\n  - level: Metadata\n    resources:\n      - group: apps\n        resources: [deployments]\n")
	for _, tc := range []struct {
		path string
		want string
	}{
		{"rules[0]", "p.yaml:4:5"},
		{"rules[1]", "p.yaml:6:5"},
		{"rules[1].resources[0]", "p.yaml:8:9"},
		{"rules[1].resources[0].resources[0]", "p.yaml:9:21"},
		{"rules[7]", "p.yaml:4:3"}, // as near as the document has it: the list
	} {
		if got := f.FieldPos(tc.path).String(); got != tc.want {
			t.Errorf("FieldPos(%s) = %s, want %s", tc.path, got, tc.want)
		}
	}
}

func rule(src string) *auditinternal.PolicyRule {
	var r auditinternal.PolicyRule
	if err := json.Unmarshal([]byte(src), &r); err != nil {
		panic(err)
	}
	return &r
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{`{"level":"None"}`, `{"level":"None","verbs":["get"]}`, true},
		{`{"level":"None","verbs":["get"]}`, `{"level":"None"}`, false},
		{`{"verbs":["get","list"]}`, `{"verbs":["get"]}`, true},
		{`{"users":["a"]}`, `{"users":["a","b"]}`, false},
		{`{"userGroups":["g","h"]}`, `{"userGroups":["g"]}`, true},
		{`{"userGroups":["g"]}`, `{"users":["a"]}`, false},
		// kinds: a resource rule never covers a rule without kind.
		{`{"resources":[{"group":"*"}]}`, `{"verbs":["get"]}`, false},
		{`{"resources":[{"group":"*"}]}`, `{"resources":[{"group":"apps","resources":["deployments"]}]}`, true},
		{`{"resources":[{"group":""}]}`, `{"resources":[{"group":"apps"}]}`, false},
		{`{"resources":[{"group":"","resources":["pods"]}]}`, `{"resources":[{"group":"","resources":["pods/log"]}]}`, false},
		{`{"resources":[{"group":"","resources":["pods/*"]}]}`, `{"resources":[{"group":"","resources":["pods","pods/log"]}]}`, true},
		{`{"resources":[{"group":"","resources":["*/status"]}]}`, `{"resources":[{"group":"","resources":["pods/status","nodes/status"]}]}`, true},
		{`{"resources":[{"group":"","resources":["*/status"]}]}`, `{"resources":[{"group":"","resources":["pods/*"]}]}`, false},
		{`{"resources":[{"group":"","resources":["*"]}]}`, `{"resources":[{"group":""}]}`, true},
		{`{"resources":[{"group":"","resources":["pods"]}]}`, `{"resources":[{"group":""}]}`, false},
		{`{"resources":[{"group":"","resources":["secrets"],"resourceNames":["a"]}]}`, `{"resources":[{"group":"","resources":["secrets"]}]}`, false},
		{`{"resources":[{"group":"","resources":["secrets"]}]}`, `{"resources":[{"group":"","resources":["secrets"],"resourceNames":["a"]}]}`, true},
		{`{"namespaces":["kube-system"]}`, `{"namespaces":["kube-system"],"resources":[{"group":""}]}`, true},
		{`{"resources":[{"group":""}]}`, `{"namespaces":["a"]}`, false},
		{`{"nonResourceURLs":["/healthz*"]}`, `{"nonResourceURLs":["/healthz","/healthz/etcd","/healthz*"]}`, true},
		{`{"nonResourceURLs":["/healthz"]}`, `{"nonResourceURLs":["/healthz*"]}`, false},
		{`{"nonResourceURLs":["*"]}`, `{"nonResourceURLs":["/metrics"]}`, true},
		{`{"nonResourceURLs":["*"]}`, `{"resources":[{"group":""}]}`, false},
	} {
		if got := covers(rule(tc.a), rule(tc.b)); got != tc.want {
			t.Errorf("covers(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestCoversAgreesWithEvaluator checks containment against kube-apiserver's
// matcher: whenever covers(a, b), every request of a grid that b matches,
// a matches too.
func TestCoversAgreesWithEvaluator(t *testing.T) {
	ruleSrcs := []string{
		`{"level":"Metadata"}`, `{"level":"Metadata","verbs":["get"]}`, `{"level":"Metadata","users":["alice"]}`,
		`{"level":"Metadata","userGroups":["system:nodes"]}`, `{"level":"Metadata","namespaces":["kube-system"]}`,
		`{"level":"Metadata","resources":[{"group":"*"}]}`, `{"level":"Metadata","resources":[{"group":""}]}`,
		`{"level":"Metadata","resources":[{"group":"","resources":["pods"]}]}`, `{"level":"Metadata","resources":[{"group":"","resources":["pods/*"]}]}`,
		`{"level":"Metadata","resources":[{"group":"","resources":["*/status"]}]}`, `{"level":"Metadata","resources":[{"group":"","resources":["*"]}]}`,
		`{"level":"Metadata","resources":[{"group":"","resources":["pods"],"resourceNames":["p1"]}]}`,
		`{"level":"Metadata","nonResourceURLs":["/healthz*"]}`, `{"level":"Metadata","nonResourceURLs":["/healthz"]}`, `{"level":"Metadata","nonResourceURLs":["*"]}`,
	}
	var grid []authorizer.AttributesRecord
	users := []user.Info{&user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}}, &user.DefaultInfo{Name: "system:node:n1", Groups: []string{"system:nodes"}}}
	for _, u := range users {
		for _, verb := range []string{"get", "list"} {
			for _, ns := range []string{"", "kube-system", "default"} {
				for _, r := range [][3]string{{"", "pods", ""}, {"", "pods", "status"}, {"", "pods", "log"}, {"", "nodes", "status"}, {"apps", "deployments", ""}} {
					for _, name := range []string{"", "p1"} {
						grid = append(grid, authorizer.AttributesRecord{User: u, Verb: verb, Namespace: ns, APIGroup: r[0], Resource: r[1], Subresource: r[2], Name: name, ResourceRequest: true})
					}
				}
			}
			for _, p := range []string{"/healthz", "/healthz/etcd", "/metrics"} {
				grid = append(grid, authorizer.AttributesRecord{User: u, Verb: verb, Path: p})
			}
		}
	}
	matcher := func(src string) *Evaluator {
		return NewEvaluator(&File{Policy: &auditinternal.Policy{Rules: []auditinternal.PolicyRule{*rule(src)}}})
	}
	checked := 0
	for _, a := range ruleSrcs {
		for _, b := range ruleSrcs {
			if !covers(rule(a), rule(b)) {
				continue
			}
			checked++
			ea, eb := matcher(a), matcher(b)
			for i := range grid {
				ib, _ := eb.Evaluate(&grid[i])
				ia, _ := ea.Evaluate(&grid[i])
				if ib == 0 && ia != 0 {
					t.Errorf("covers(%s, %s), but the apiserver's matcher matches %+v with the second only", a, b, grid[i])
				}
			}
		}
	}
	if checked < 30 {
		t.Errorf("only %d covering pairs checked", checked)
	}
}

func TestEvaluatorRule(t *testing.T) {
	f := mustParse(t, head+"- level: None\n  users: [a]\n- level: Request\n  verbs: [create]\n- level: None\n  verbs: [get]\n")
	e := NewEvaluator(f)
	for _, tc := range []struct {
		user, verb string
		rule       int
		level      auditinternal.Level
	}{{"a", "create", 0, "None"}, {"b", "create", 1, "Request"}, {"b", "get", 2, "None"}, {"b", "list", -1, "None"}} {
		i, cfg := e.Evaluate(&authorizer.AttributesRecord{User: &user.DefaultInfo{Name: tc.user}, Verb: tc.verb, Path: "/x"})
		if i != tc.rule || cfg.Level != tc.level {
			t.Errorf("%s %s: rule %d level %s, want %d %s", tc.user, tc.verb, i, cfg.Level, tc.rule, tc.level)
		}
	}
}

func TestScanSpans(t *testing.T) {
	ev := `{"kind":"Event","level":"RequestResponse","stage":"ResponseComplete","responseStatus":{"metadata":{},"code":201},` +
		`"requestObject":{"kind":"Pod","metadata":{"name":"p","managedFields":[{"manager":"kubectl","time":"x"}]},"spec":{"s":"a\"}b"}},` +
		`"responseObject":{"kind":"List","items":[{"metadata":{"name":"a","managedFields":[{"m":1}]}},{"metadata":{"managedFields":[]}}]},` +
		`"annotations":{"a":"b"}}`
	sp := scanSpans([]byte(ev))
	sizeOf := func(s string) int { return len(s) + 1 }
	want := spans{
		request:     sizeOf(`"requestObject":{"kind":"Pod","metadata":{"name":"p","managedFields":[{"manager":"kubectl","time":"x"}]},"spec":{"s":"a\"}b"}}`),
		response:    sizeOf(`"responseObject":{"kind":"List","items":[{"metadata":{"name":"a","managedFields":[{"m":1}]}},{"metadata":{"managedFields":[]}}]}`),
		status:      sizeOf(`"responseStatus":{"metadata":{},"code":201}`),
		annotations: sizeOf(`"annotations":{"a":"b"}`),
		requestMF:   sizeOf(`"managedFields":[{"manager":"kubectl","time":"x"}]`),
		responseMF:  sizeOf(`"managedFields":[{"m":1}]`) + sizeOf(`"managedFields":[]`),
	}
	if sp != want {
		t.Errorf("scanSpans = %+v, want %+v", sp, want)
	}
	// Cutting the bodies leaves valid JSON of the size computed.
	cut := strings.Replace(ev, `"requestObject":{"kind":"Pod","metadata":{"name":"p","managedFields":[{"manager":"kubectl","time":"x"}]},"spec":{"s":"a\"}b"}},`, "", 1)
	if len(ev)-len(cut) != sp.request {
		t.Errorf("request span %d, bytes cut %d", sp.request, len(ev)-len(cut))
	}
}

func TestAttributes(t *testing.T) {
	var e audit.Event
	for _, tc := range []struct {
		line string
		want authorizer.AttributesRecord
	}{
		{`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/a/pods","verb":"create","user":{"username":"u","groups":["g"]},"requestReceivedTimestamp":"2026-11-25T05:42:27.000000Z","objectRef":{"resource":"pods","namespace":"a","name":"p","apiVersion":"v1"}}`,
			authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "u", Groups: []string{"g"}}, Verb: "create", Path: "/api/v1/namespaces/a/pods", ResourceRequest: true, Resource: "pods", Namespace: "a", APIVersion: "v1"}},
		{`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"2","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/a/pods/p/eviction","verb":"create","user":{"username":"u"},"requestReceivedTimestamp":"2026-11-25T05:42:27.000000Z","objectRef":{"resource":"pods","subresource":"eviction","namespace":"a","name":"p","apiVersion":"v1"}}`,
			authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "u"}, Verb: "create", Path: "/api/v1/namespaces/a/pods/p/eviction", ResourceRequest: true, Resource: "pods", Subresource: "eviction", Namespace: "a", Name: "p", APIVersion: "v1"}},
		{`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"3","stage":"ResponseStarted","requestURI":"/healthz?verbose","verb":"get","user":{},"requestReceivedTimestamp":"2026-11-25T05:42:27.000000Z"}`,
			authorizer.AttributesRecord{Verb: "get", Path: "/healthz"}},
	} {
		if !e.Scan([]byte(tc.line)) {
			t.Fatalf("scan %s", tc.line)
		}
		got := Attributes(&e)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Attributes:\n got %+v (user %+v)\nwant %+v (user %+v)", got, got.User, tc.want, tc.want.User)
		}
	}
}

func TestLintChecks(t *testing.T) {
	shipped, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	clean := "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nomitManagedFields: true\nrules:\n" +
		"- level: None\n  nonResourceURLs: [/healthz*, /livez*, /readyz*, /metrics, /metrics/*]\n"
	last := "- level: Metadata\n"
	for _, tc := range []struct {
		name  string
		src   string
		check string
		sev   rules.Severity
		want  string // in the message; "" for no finding of the check
	}{
		{"shadowed", clean + "- level: Metadata\n  verbs: [get]\n- level: Request\n  verbs: [get]\n  users: [a]\n" + last, CheckShadowed, rules.SeverityHigh, "rule 3 (level Request) never applies"},
		{"not shadowed", clean + "- level: Metadata\n  verbs: [get]\n  users: [a]\n- level: Request\n  verbs: [get]\n" + last, CheckShadowed, 0, ""},
		{"secret wildcard", clean + "- level: Request\n  resources: [{group: \"\"}]\n" + last, CheckSensitivePayload, rules.SeverityCritical, "rule 2 logs secrets, configmaps at Request"},
		{"secrets read at Request", clean + "- level: Request\n  verbs: [get, list]\n  resources: [{group: \"\", resources: [secrets]}]\n" + last, CheckSensitivePayload, 0, ""},
		{"secrets covered first", clean + "- level: Metadata\n  resources: [{group: \"\", resources: [secrets, configmaps, serviceaccounts/token]}, {group: authentication.k8s.io, resources: [tokenreviews]}]\n- level: RequestResponse\n  verbs: [create]\n" + last, CheckSensitivePayload, 0, ""},
		{"token at RequestResponse", clean + "- level: RequestResponse\n  verbs: [create]\n  resources: [{group: \"\", resources: [\"*/token\"]}]\n" + last, CheckSensitivePayload, rules.SeverityCritical, "serviceaccounts/token"},
		{"no catch-all", clean + "- level: Metadata\n  verbs: [get]\n", CheckNoCatchAll, rules.SeverityMedium, "no catch-all rule at the end"},
		{"catch-all", clean + last, CheckNoCatchAll, 0, ""},
		{"catch-all first", clean + last + "- level: None\n  verbs: [watch]\n", CheckCatchAllNotLast, rules.SeverityHigh, "the rule after it never applies"},
		{"core deployments", clean + "- level: Metadata\n  resources: [{group: \"\", resources: [deployments]}]\n" + last, CheckWrongGroup, rules.SeverityHigh, "deployments is served by apps"},
		{"apps pods", clean + "- level: Metadata\n  resources: [{group: apps, resources: [pods]}]\n" + last, CheckWrongGroup, rules.SeverityMedium, "pods is served by \"\" (core)"},
		{"typo", clean + "- level: Metadata\n  resources: [{group: apps, resources: [deploymnets]}]\n" + last, CheckUnknownResource, rules.SeverityMedium, "serves no deploymnets"},
		{"bad subresource", clean + "- level: Metadata\n  resources: [{group: apps, resources: [deployments/scales]}]\n" + last, CheckUnknownResource, rules.SeverityMedium, "deployments/scales (deployments has scale, status)"},
		{"wildcards", clean + "- level: Metadata\n  resources: [{group: apps, resources: [\"*\", \"*/scale\", \"deployments/*\"]}]\n" + last, CheckUnknownResource, 0, ""},
		{"custom group", clean + "- level: Metadata\n  resources: [{group: example.com}]\n" + last, CheckUnknownGroup, rules.SeverityInfo, "not checked"},
		{"request received", strings.Replace(clean, "omitStages: [RequestReceived]\n", "", 1) + last, CheckRequestReceived, rules.SeverityMedium, "(rules 2)"},
		{"request received per rule", strings.Replace(clean, "omitStages: [RequestReceived]\n", "", 1) + "- level: Metadata\n  omitStages: [RequestReceived]\n", CheckRequestReceived, 0, ""},
		{"lists", clean + "- level: RequestResponse\n  resources: [{group: apps}]\n" + last, CheckListResponse, rules.SeverityMedium, "logs lists at RequestResponse"},
		{"lists at Request first", clean + "- level: Request\n  verbs: [get, list, watch]\n- level: RequestResponse\n" + last, CheckListResponse, 0, ""},
		{"health", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: None\n  nonResourceURLs: [/healthz*]\n" + last, CheckHealthLogged, rules.SeverityLow, "(/livez, /livez/ping, /readyz, /readyz/informer-sync, /metrics, /metrics/slis)"},
		{"managed fields", strings.Replace(clean, "omitManagedFields: true\n", "", 1) + "- level: Request\n  verbs: [create]\n" + last, CheckManagedFields, rules.SeverityLow, "omitManagedFields is unset"},
		{"managed fields kept on purpose", clean + "- level: Request\n  verbs: [create]\n  omitManagedFields: false\n" + last, CheckManagedFields, rules.SeverityInfo, "keeps managedFields"},
		{"blind", clean + last, CheckBlindDetector, rules.SeverityHigh, "privileged-pod, host-namespace-pod, hostpath-pod are blind: pods are logged at Metadata (create; rule 2); it needs Request"},
		{"partly blind", clean + "- level: Metadata\n  userGroups: [system:nodes]\n- level: Request\n", CheckBlindDetector, rules.SeverityLow, "partly blind: pods are logged at Metadata (create by system:node:node-1, member-of:system:nodes; rule 2)"},
		{"sees", clean + "- level: Request\n  verbs: [create, update, patch]\n  resources: [{group: \"\", resources: [pods]}, {group: rbac.authorization.k8s.io}]\n" + last, CheckBlindDetector, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustParse(t, tc.src)
			var got []Finding
			for _, x := range Lint(f, LintOptions{Detectors: shipped}) {
				if x.Check == tc.check {
					got = append(got, x)
				}
			}
			if tc.want == "" {
				if len(got) > 0 {
					t.Errorf("want no %s finding, got %+v", tc.check, got)
				}
				return
			}
			for _, x := range got {
				if strings.Contains(x.Message, tc.want) {
					if x.Severity != tc.sev {
						t.Errorf("severity %s, want %s", x.Severity, tc.sev)
					}
					if x.Pos.Line == 0 || x.Fix == "" {
						t.Errorf("finding without line or fix: %+v", x)
					}
					return
				}
			}
			t.Errorf("want a %s finding with %q, got %+v", tc.check, tc.want, got)
		})
	}
}

func TestDiscoveryResources(t *testing.T) {
	live := NewResources("the cluster", true, [][2]string{{"", "pods"}, {"example.com", "widgets"}})
	f := mustParse(t, head+"- level: Metadata\n  resources: [{group: example.com, resources: [widgets, gadgets]}, {group: other.io}]\n")
	var msgs []string
	for _, x := range Lint(f, LintOptions{Resources: live}) {
		if x.Check == CheckUnknownResource || x.Check == CheckUnknownGroup {
			msgs = append(msgs, x.Severity.String()+": "+x.Message)
		}
	}
	want := []string{
		"medium: rule 1: group example.com serves no gadgets (the cluster)",
		`medium: rule 1: the cluster serves no group "other.io", so this entry matches nothing`,
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}
