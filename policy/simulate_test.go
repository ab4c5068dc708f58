package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
)

// ev writes one event as kube-apiserver would.
func ev(id, stage, level, verb, uri, user, objectRef, extra string) string {
	u := `{}`
	if user != "" {
		u = fmt.Sprintf(`{"username":%q,"groups":["system:authenticated"]}`, user)
	}
	s := fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":%q,"auditID":%q,"stage":%q,"requestURI":%q,"verb":%q,"user":%s,"sourceIPs":["10.0.0.1"],"userAgent":"test"`,
		level, id, stage, uri, verb, u)
	if objectRef != "" {
		s += `,"objectRef":` + objectRef
	}
	if stage != audit.StageRequestReceived {
		s += `,"responseStatus":{"metadata":{},"code":200}`
	}
	s += extra + `,"requestReceivedTimestamp":"2026-11-25T05:42:27.000000Z","stageTimestamp":"2026-11-25T05:42:28.000000Z"`
	if stage != audit.StageRequestReceived {
		s += `,"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}`
	}
	return s + "}"
}

const podRef = `{"resource":"pods","namespace":"a","name":"p","apiVersion":"v1"}`
const podBody = `,"requestObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}`
const podResponse = `,"responseObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","uid":"u","managedFields":[{"manager":"kubectl","operation":"Update"}]},"spec":{"containers":[{"name":"c","image":"i"}]}}`

// everyStage is one log at RequestResponse with every stage: a create, a
// watch (long-running) and a failed authentication.
var everyStage = []string{
	ev("c1", "RequestReceived", "RequestResponse", "create", "/api/v1/namespaces/a/pods", "alice", `{"resource":"pods","namespace":"a","apiVersion":"v1"}`, ""),
	ev("c1", "ResponseComplete", "RequestResponse", "create", "/api/v1/namespaces/a/pods", "alice", podRef, podBody+podResponse),
	ev("w1", "RequestReceived", "RequestResponse", "watch", "/api/v1/namespaces/a/pods?watch=true", "alice", `{"resource":"pods","namespace":"a","apiVersion":"v1"}`, ""),
	ev("w1", "ResponseStarted", "RequestResponse", "watch", "/api/v1/namespaces/a/pods?watch=true", "alice", `{"resource":"pods","namespace":"a","apiVersion":"v1"}`, ""),
	ev("w1", "ResponseComplete", "RequestResponse", "watch", "/api/v1/namespaces/a/pods?watch=true", "alice", `{"resource":"pods","namespace":"a","apiVersion":"v1"}`, ""),
	ev("f1", "ResponseStarted", "RequestResponse", "list", "/api/v1/pods", "", `{"resource":"pods","apiVersion":"v1"}`, ""),
}

func simulate(t *testing.T, policy string, lines []string) *Result {
	t.Helper()
	f := mustParse(t, policy)
	shipped, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	sim := NewSimulator(f, SimOptions{Detectors: shipped})
	sink := sim.NewSink()
	var e audit.Event
	for _, l := range lines {
		if !e.Scan([]byte(l)) {
			t.Fatalf("not an event: %s", l)
		}
		sink.Event(&e)
	}
	return sim.Result()
}

func levelRow(r *Result, level string) Row {
	for _, row := range r.ByLevel {
		if row.Key == level {
			return row
		}
	}
	return Row{}
}

func size(lines ...string) int64 {
	var n int64
	for _, l := range lines {
		n += int64(len(l)) + 1
	}
	return n
}

func TestSimulateStages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		// events and bytes the policy writes, by level
		want map[string][2]int64
	}{
		{"same policy", head + "- level: RequestResponse\n", map[string][2]int64{
			"RequestResponse": {6, size(everyStage...)}}},
		{"no RequestReceived", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: RequestResponse\n", map[string][2]int64{
			"RequestResponse": {4, size(everyStage[1], everyStage[3], everyStage[4], everyStage[5])}}},
		{"no ResponseStarted: the 401 is not logged at all", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [ResponseStarted]\nrules:\n- level: RequestResponse\n", map[string][2]int64{
			"RequestResponse": {4, size(everyStage[0], everyStage[1], everyStage[2], everyStage[4])}}},
		{"Metadata: bodies cut", head + "- level: Metadata\n  omitStages: [RequestReceived]\n", map[string][2]int64{
			"Metadata": {4, size(everyStage[1], everyStage[3], everyStage[4], everyStage[5]) - int64(len(podBody)+len(podResponse)) - 4*int64(len("RequestResponse")-len("Metadata"))}}},
		{"Request, managed fields omitted", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nomitManagedFields: true\nrules:\n- level: Request\n  verbs: [create]\n- level: None\n", map[string][2]int64{
			"Request": {1, size(everyStage[1]) - int64(len(podResponse)) - int64(len("RequestResponse")-len("Request"))}}},
		{"RequestResponse, managed fields omitted", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nomitManagedFields: true\nrules:\n- level: RequestResponse\n  verbs: [create]\n- level: None\n", map[string][2]int64{
			"RequestResponse": {1, size(everyStage[1]) - int64(len(`,"managedFields":[{"manager":"kubectl","operation":"Update"}]`))}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := simulate(t, tc.policy, everyStage)
			for _, level := range []string{"None", "Metadata", "Request", "RequestResponse"} {
				row := levelRow(r, level)
				got := [2]int64{row.Policy.Events, row.Policy.Bytes}
				if got != tc.want[level] {
					t.Errorf("%s: %d events %d bytes, want %d %d", level, got[0], got[1], tc.want[level][0], tc.want[level][1])
				}
				if row.Policy.EstimatedBytes != 0 {
					t.Errorf("%s: %d bytes estimated from a log that holds every level and stage", level, row.Policy.EstimatedBytes)
				}
			}
			if r.Total.Requests != 3 || r.Total.Log.Events != 6 || r.Total.Log.Bytes != size(everyStage...) {
				t.Errorf("total: %d requests, log %d events %d bytes; want 3, 6, %d", r.Total.Requests, r.Total.Log.Events, r.Total.Log.Bytes, size(everyStage...))
			}
		})
	}
}

func TestSimulateEstimates(t *testing.T) {
	// The log omitted RequestReceived; it holds one pod create at
	// RequestResponse (the sample) and another at Metadata.
	meta := ev("c2", "ResponseComplete", "Metadata", "create", "/api/v1/namespaces/a/pods", "bob", podRef, "")
	lines := []string{everyStage[1], meta}
	r := simulate(t, head+"- level: RequestResponse\n", lines)
	row := levelRow(r, "RequestResponse")
	// Two creates, each with a RequestReceived derived from it.
	if row.Policy.Events != 4 {
		t.Errorf("events %d, want 4 (2 RequestReceived derived, 2 ResponseComplete)", row.Policy.Events)
	}
	upgraded := int64(len(meta)+1) + int64(len(podBody)+len(podResponse)) + int64(len("RequestResponse")-len("Metadata"))
	rr1 := int64(len(everyStage[1])+1) - int64(len(podBody)+len(podResponse)) - int64(len(`,"responseStatus":{"metadata":{},"code":200}`)) -
		int64(len(`,"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}`)) + int64(len("RequestReceived")-len("ResponseComplete"))
	rr2 := int64(len(meta)+1) - int64(len(`,"responseStatus":{"metadata":{},"code":200}`)) -
		int64(len(`,"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}`)) + int64(len("RequestReceived")-len("ResponseComplete")) +
		int64(len("RequestResponse")-len("Metadata"))
	want := int64(len(everyStage[1])+1) + upgraded + rr1 + rr2
	if row.Policy.Bytes != want {
		t.Errorf("bytes %d, want %d", row.Policy.Bytes, want)
	}
	if est := int64(len(podBody)+len(podResponse)) + rr1 + rr2; row.Policy.EstimatedBytes != est {
		t.Errorf("estimated %d, want %d (the upgraded bodies and the derived stages)", row.Policy.EstimatedBytes, est)
	}
	notes := strings.Join(r.Notes, "\n")
	if !strings.Contains(notes, "the log holds no RequestReceived events: the policy's 2 are derived") {
		t.Errorf("notes lack the derived stage:\n%s", notes)
	}
}

func TestSimulateStoppedAndDetectors(t *testing.T) {
	r := simulate(t, head+"- level: None\n  users: [alice]\n- level: Metadata\n", everyStage)
	if r.StoppedTotal != 2 || len(r.Stopped) != 2 {
		t.Fatalf("stopped %d requests in %d rows, want 2 in 2: %+v", r.StoppedTotal, len(r.Stopped), r.Stopped)
	}
	if s := r.Stopped[0]; s.User != "alice" || !strings.HasPrefix(s.Rule, "rule 1 (line 4)") {
		t.Errorf("stopped: %+v", s)
	}
	var msgs []string
	for _, d := range r.Detectors {
		msgs = append(msgs, d.Message)
	}
	want := "privileged-pod would be blind: all 1 requests it watches would be logged below Request (or not at all); the log gives 1 of them Request or more"
	if !strings.Contains(strings.Join(msgs, "\n"), want) {
		t.Errorf("detectors lack %q:\n%s", want, strings.Join(msgs, "\n"))
	}
}
