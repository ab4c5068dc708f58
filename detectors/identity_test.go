package detectors

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
)

// TestIdentityAt: identityAt(ip) is the user of the address's latest
// event (the greatest user on a tie), over sinks, for IPv4 and other
// addresses, also when the sinks' user tables are compacted again and
// again.
func TestIdentityAt(t *testing.T) {
	for _, maxU := range []int{2 * maxIPs, 4, 1} {
		t.Run(fmt.Sprint("maxUsers=", maxU), func(t *testing.T) {
			defer SetMaxUsers(maxU)()
			rs, err := builtin.Rules()
			if err != nil {
				t.Fatal(err)
			}
			eng, err := New(rs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			sinks := []*Sink{eng.NewSink().(*Sink), eng.NewSink().(*Sink)}
			ips := []string{"10.0.0.1", "10.0.0.2", "192.168.7.9", "2001:db8::1", "010.0.0.1"}
			type seen struct {
				t    int64
				user string
			}
			want := map[string]seen{}
			r := rand.New(rand.NewPCG(1, uint64(maxU)))
			var ev audit.Event
			for i := range 3000 {
				ip := ips[r.IntN(len(ips))]
				user := fmt.Sprintf("user-%d", r.IntN(40))
				ts := int64(r.IntN(500)) * 1e9
				line := fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a%d","stage":"ResponseComplete","verb":"get","user":{"username":%q},"sourceIPs":[%q],"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-24T00:00:00.000000Z","stageTimestamp":"2026-11-24T00:00:00.000001Z"}`, i, user, ip)
				if !ev.Scan([]byte(line)) {
					t.Fatalf("not an event: %s", line)
				}
				sinks[i%2].seeIP(&ev, ts)
				if w, ok := want[ip]; !ok || ts > w.t || ts == w.t && user > w.user {
					want[ip] = seen{ts, user}
				}
			}
			eng.Finish()
			for ip, w := range want {
				if got := eng.identityLookup(ip); got != w.user {
					t.Errorf("identityAt(%s) = %q, want %q", ip, got, w.user)
				}
			}
			if maxU < 40 && len(sinks[0].users) > maxU+len(ips) {
				t.Errorf("%d users kept, bound %d", len(sinks[0].users), maxU)
			}
		})
	}
}
