package sources

import "testing"

func TestRequestTimes(t *testing.T) {
	ids := []string{
		"41c7a4f7-9b97-73e9-57e8-1af475acb171", // kube-apiserver's
		"41C7A4F7-9B97-73E9-57E8-1AF475ACB171", // upper case: kept as written
		"my-client-request-1",                  // a client's Audit-ID
		"41c7a4f7-9b97-73e9-57e8-1af475acb17",  // 35 characters
		"41c7a4f7x9b97-73e9-57e8-1af475acb171", // no dash where one belongs
		"41c7a4f7-9b97-73e9-57e8-1af475acb17g", // not hex
		"",
	}
	r := newRequestTimes()
	for i, id := range ids {
		r.put(keyOf(id), int64(i))
	}
	if r.len() != len(ids) {
		t.Fatalf("len = %d, want %d", r.len(), len(ids))
	}
	got := r.strings()
	for i, id := range ids {
		if v, ok := r.get(keyOf(id)); !ok || v != int64(i) {
			t.Errorf("get(%q) = %d, %v; want %d", id, v, ok, i)
		}
		if v, ok := got[id]; !ok || v != int64(i) {
			t.Errorf("strings()[%q] = %d, %v; want %d", id, v, ok, i)
		}
	}
	if n := r.uuids.len(); n != 1 {
		t.Errorf("%d IDs kept as UUIDs, want 1 (only the canonical one)", n)
	}
	r.deleteBefore(3)
	if r.len() != len(ids)-3 {
		t.Errorf("after deleteBefore(3): len = %d, want %d", r.len(), len(ids)-3)
	}
	r.del(keyOf(ids[5]))
	if _, ok := r.get(keyOf(ids[5])); ok {
		t.Errorf("%q still there after del", ids[5])
	}
}

// FuzzUUIDRoundTrip: an ID parseUUID accepts prints back as itself, so a
// saved state holds the auditIDs the log has.
func FuzzUUIDRoundTrip(f *testing.F) {
	f.Add("41c7a4f7-9b97-73e9-57e8-1af475acb171")
	f.Add("41C7A4F7-9B97-73E9-57E8-1AF475ACB171")
	f.Fuzz(func(t *testing.T, s string) {
		if u, ok := parseUUID(s); ok && formatUUID(u) != s {
			t.Fatalf("%q came back as %q", s, formatUUID(u))
		}
	})
}
