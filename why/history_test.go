package why

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

func timeline(t *testing.T, file string, workers int, opts Options) *Timeline {
	t.Helper()
	inputs, err := sources.ResolveInputs([]string{file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cs []*Collector
	_, err = sources.Read(context.Background(), sources.ReadOptions{Inputs: inputs, Workers: workers, ChunkSize: 64 << 10},
		func() audit.Sink {
			c := NewCollector(opts)
			cs = append(cs, c)
			return c
		})
	if err != nil {
		t.Fatal(err)
	}
	return Merge(opts, cs)
}

func mustResource(t *testing.T, name string) Resource {
	t.Helper()
	r, err := ResolveResource(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The recorded log's shop/checkout story (examples/README.md): created by
// kubernetes-admin, alice scales 1→3, bob changes the image, alice deletes.
func TestCheckoutStory(t *testing.T) {
	opts := Options{Resource: mustResource(t, "deploy"), Namespace: "shop", Name: "checkout"}
	tl := timeline(t, "testdata/audit.log.gz", 1, opts)
	want := "deployment shop/checkout: deleted 2026-11-25T05:42:39Z by alice (from 127.0.0.1, kubectl)"
	if tl.Summary != want {
		t.Errorf("summary = %q, want %q", tl.Summary, want)
	}
	if tl.Created == nil || tl.Created.User != "kubernetes-admin" {
		t.Errorf("created = %+v, want by kubernetes-admin", tl.Created)
	}
	type write struct{ verb, user, change string }
	var got []write
	for _, e := range tl.Entries {
		if e.Subresource != "" {
			continue
		}
		var ch []string
		for _, c := range e.Changes {
			ch = append(ch, c.String())
		}
		got = append(got, write{e.Verb, e.User, strings.Join(ch, "; ")})
	}
	wantWrites := []write{
		{"create", "kubernetes-admin", "spec.replicas: 1; spec.template.spec.containers[checkout].image: registry.example.com/checkout:1.8.0"},
		{"patch", "alice", "spec.replicas: 1 → 3"},
		{"patch", "bob", "spec.template.spec.containers[checkout].image: registry.example.com/checkout:1.8.0 → registry.example.com/checkout:1.9.0-rc1"},
		{"delete", "alice", "propagationPolicy: Background"},
	}
	if !reflect.DeepEqual(got, wantWrites) {
		t.Errorf("writes:\n got %q\nwant %q", got, wantWrites)
	}
	for _, e := range tl.Entries {
		if e.User == "alice" || e.User == "bob" {
			a := e.Authorization
			if a == nil || a.BindingKind != "RoleBinding" || a.BindingName != "developers-deployer" || a.BindingNamespace != "shop" ||
				a.RoleKind != "Role" || a.RoleName != "deployer" || a.SubjectKind != "Group" || a.SubjectName != "developers" {
				t.Errorf("%s's %s: authorization %+v", e.User, e.Verb, a)
			}
		}
	}
	if len(tl.UIDs) != 1 || tl.UIDs[0] != "b9ef9220-9f2c-4b7c-bd74-b2d9a6adf229" {
		t.Errorf("uids = %v", tl.UIDs)
	}
	// The result must not depend on the number of workers.
	other := timeline(t, "testdata/audit.log.gz", 4, opts)
	a, _ := json.Marshal(tl)
	b, _ := json.Marshal(other)
	if string(a) != string(b) {
		t.Error("timeline differs between 1 and 4 workers")
	}
}

func TestOwners(t *testing.T) {
	tests := []struct {
		name       string
		typ, ns, n string
		wantOwned  []string
		wantOwners []string
	}{
		{"deployment to replicasets and pods", "deployments.apps", "demo", "web",
			[]string{"replicaset demo/web-58bcd66c76", "replicaset demo/web-7fc754b567"}, nil},
		{"pod up to its replicaset and deployment", "po", "demo", "", nil,
			[]string{"replicaset demo/web-58bcd66c76", "deployment demo/web"}},
		{"replicaset with ownerReferences in pod bodies", "rs", "legacy", "billing-api", []string{"pod legacy/billing-api-8ltbn", "pod legacy/billing-api-b7mph"}, nil},
	}
	// A pod name changes with every recording: take one from the web story.
	web := timeline(t, "testdata/audit.log.gz", 2, Options{Resource: mustResource(t, "deploy"), Namespace: "demo", Name: "web", Owners: true})
	var pod string
	for _, o := range web.Owned {
		if o.Resource == "pods" && strings.HasPrefix(o.Name, "web-58bcd66c76-") {
			pod = o.Name
		}
	}
	if pod == "" {
		t.Fatalf("no pod of web-58bcd66c76 among %v", web.Owned)
	}
	tests[1].n = pod
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := timeline(t, "testdata/audit.log.gz", 2, Options{Resource: mustResource(t, tt.typ), Namespace: tt.ns, Name: tt.n, Owners: true})
			owned := map[string]bool{}
			pods := 0
			for _, o := range tl.Owned {
				owned[o.String()] = true
				if o.Resource == "pods" {
					pods++
				}
			}
			for _, w := range tt.wantOwned {
				if !owned[w] {
					t.Errorf("owned %v lacks %s", tl.Owned, w)
				}
			}
			if tt.typ == "deployments.apps" && pods < 4 {
				t.Errorf("want at least 4 pods owned by demo/web, got %d", pods)
			}
			var owners []string
			for _, o := range tl.OwnerChain {
				owners = append(owners, o.String())
			}
			if tt.wantOwners != nil && !reflect.DeepEqual(owners, tt.wantOwners) {
				t.Errorf("owner chain = %v, want %v", owners, tt.wantOwners)
			}
			for _, e := range tl.Entries {
				if e.Relation == "" {
					t.Errorf("entry %s without relation", e.AuditID)
				}
			}
		})
	}
}

func writeLog(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const secretCreate = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/app/secrets","verb":"create","user":{"username":"carol","groups":["system:authenticated"]},"sourceIPs":["10.0.0.9"],"userAgent":"kubectl/v1.37.2","objectRef":{"resource":"secrets","namespace":"app","name":"db","apiVersion":"v1"},"responseStatus":{"code":201},"requestObject":{"kind":"Secret","metadata":{"name":"db"},"data":{"password":"c2VjcmV0"}},"responseObject":{"kind":"Secret","metadata":{"name":"db","uid":"u1"},"data":{"password":"c2VjcmV0"}},"requestReceivedTimestamp":"2026-11-25T05:00:00.000000Z","stageTimestamp":"2026-11-25T05:00:00.001000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}`

func TestSecretsHidden(t *testing.T) {
	log := writeLog(t, secretCreate)
	for _, show := range []bool{false, true} {
		tl := timeline(t, log, 1, Options{Resource: mustResource(t, "secret"), Namespace: "app", Name: "db", ShowSecrets: show})
		if len(tl.Entries) != 1 {
			t.Fatalf("entries = %d", len(tl.Entries))
		}
		b, _ := json.Marshal(tl)
		leaked := strings.Contains(string(b), "c2VjcmV0")
		if leaked != show {
			t.Errorf("show-secrets=%v: body in output = %v: %s", show, leaked, b)
		}
		if !show && tl.Entries[0].BodyHidden != "secrets" {
			t.Errorf("bodyHidden = %q", tl.Entries[0].BodyHidden)
		}
	}
}

func event(id, ts, verb, user, name, uid string, code int, extra string) string {
	ref := `"resource":"configmaps","namespace":"app","name":"` + name + `","apiVersion":"v1"`
	if uid != "" {
		ref += `,"uid":"` + uid + `"`
	}
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id + `","stage":"ResponseComplete","verb":"` + verb +
		`","user":{"username":"` + user + `"},"sourceIPs":["10.0.0.1"],"objectRef":{` + ref + `},"responseStatus":{"code":` +
		itoa(code) + `},"requestReceivedTimestamp":"` + ts + `","stageTimestamp":"` + ts + `"` + extra + `}`
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestRecreatedAndImpersonated(t *testing.T) {
	log := writeLog(t,
		event("e3", "2026-11-25T05:00:03Z", "delete", "alice", "cfg", "u1", 200, ""),
		event("e1", "2026-11-25T05:00:01Z", "create", "alice", "cfg", "", 201, ""),
		event("e2", "2026-11-25T05:00:02Z", "update", "bob", "cfg", "u1", 200, ""),
		event("e4", "2026-11-25T05:00:04Z", "create", "ci", "cfg", "", 201, `,"impersonatedUser":{"username":"deployer"}`),
		event("e5", "2026-11-25T05:00:05Z", "update", "ci", "cfg", "u2", 409, ""),
		event("e6", "2026-11-25T05:00:06Z", "get", "ci", "cfg", "u2", 200, ""),
		event("x1", "2026-11-25T05:00:07Z", "delete", "mallory", "other", "", 200, ""),
	)
	tl := timeline(t, log, 1, Options{Resource: mustResource(t, "cm"), Namespace: "app", Name: "cfg"})
	if got := len(tl.Entries); got != 5 {
		t.Fatalf("entries = %d, want 5 (no reads, no other object)", got)
	}
	if !reflect.DeepEqual(tl.UIDs, []string{"u1", "u2"}) {
		t.Errorf("uids = %v", tl.UIDs)
	}
	if tl.Entries[0].Object.UID != "u1" || tl.Entries[3].Object.UID != "u2" {
		t.Errorf("uid backfill: %q %q", tl.Entries[0].Object.UID, tl.Entries[3].Object.UID)
	}
	e := tl.Entries[3]
	if e.User != "deployer" || e.Impersonator != "ci" {
		t.Errorf("impersonation: user %q impersonator %q", e.User, e.Impersonator)
	}
	want := "configmap app/cfg: created 2026-11-25T05:00:04Z by deployer (from 10.0.0.1) (2 objects had this name)"
	if tl.Summary != want {
		t.Errorf("summary = %q, want %q", tl.Summary, want)
	}
	reads := timeline(t, log, 1, Options{Resource: mustResource(t, "cm"), Namespace: "app", Name: "cfg", WithReads: true})
	if len(reads.Entries) != 6 {
		t.Errorf("with reads: %d entries, want 6", len(reads.Entries))
	}
	none := timeline(t, log, 1, Options{Resource: mustResource(t, "cm"), Namespace: "app", Name: "missing"})
	if len(none.Entries) != 0 || none.Summary != "configmap app/missing: not in the log" {
		t.Errorf("missing object: %+v", none)
	}
}
