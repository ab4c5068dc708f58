package detectors

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/rules/builtin"
)

// TestIdentityAt: identityAt(ip) is the user of the address's latest
// event (the greatest user on a tie), over sinks, for IPv4 and other
// addresses, also when the sinks' user tables are compacted again and
// again, and when the sinks hand their addresses to the engine after
// every one or every few.
func TestIdentityAt(t *testing.T) {
	for _, tc := range []struct{ maxU, handoff int }{{2 * maxIPs, ipHandoff}, {4, ipHandoff}, {1, ipHandoff}, {2 * maxIPs, 1}, {4, 3}, {1, 2}} {
		maxU := tc.maxU
		t.Run(fmt.Sprintf("maxUsers=%d,handoff=%d", maxU, tc.handoff), func(t *testing.T) {
			defer SetMaxUsers(maxU)()
			defer SetIPLimits(tc.handoff, maxIPs)()
			eng, sinks := twoSinks(t)
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
				see(sinks[i%2], &ev, ts)
				if w, ok := want[ip]; !ok || ts > w.t || ts == w.t && user > w.user {
					want[ip] = seen{ts, user}
				}
			}
			if maxU < 40 && len(sinks[0].users.users) > maxU+len(ips) {
				t.Errorf("%d users kept, bound %d", len(sinks[0].users.users), maxU)
			}
			if n := sinks[0].ips4.len() + len(sinks[0].ips); n > tc.handoff {
				t.Errorf("a sink holds %d addresses, hand-off at %d", n, tc.handoff)
			}
			res := eng.Finish()
			for ip, w := range want {
				if got := eng.identityLookup(ip); got != w.user {
					t.Errorf("identityAt(%s) = %q, want %q", ip, got, w.user)
				}
			}
			if len(res.Warnings) > 0 {
				t.Errorf("warnings: %q", res.Warnings)
			}
		})
	}
}

// TestIdentityAtEviction: past maxIPs addresses, the index keeps the ones
// seen most recently, with their right users, and says how many it
// dropped.
func TestIdentityAtEviction(t *testing.T) {
	defer SetIPLimits(2, 8)()
	eng, sinks := twoSinks(t)
	var ev audit.Event
	const n = 40
	for i := range n {
		ip := fmt.Sprintf("10.0.%d.%d", i/200, i%200)
		if i%5 == 0 {
			ip = fmt.Sprintf("2001:db8::%x", i)
		}
		line := fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a%d","stage":"ResponseComplete","verb":"get","user":{"username":"user-%d"},"sourceIPs":[%q],"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-24T00:00:00.000000Z","stageTimestamp":"2026-11-24T00:00:00.000001Z"}`, i, i, ip)
		if !ev.Scan([]byte(line)) {
			t.Fatalf("not an event: %s", line)
		}
		see(sinks[i%2], &ev, int64(i)*1e9)
	}
	res := eng.Finish()
	kept := 0
	for i := range n {
		ip := fmt.Sprintf("10.0.%d.%d", i/200, i%200)
		if i%5 == 0 {
			ip = fmt.Sprintf("2001:db8::%x", i)
		}
		got := eng.identityLookup(ip)
		switch {
		case got == "":
			if i >= n-4 {
				t.Errorf("identityAt(%s) = \"\": one of the latest addresses was dropped", ip)
			}
		case got != fmt.Sprintf("user-%d", i):
			t.Errorf("identityAt(%s) = %q, want user-%d", ip, got, i)
		default:
			kept++
		}
	}
	if kept > 8 || kept < 4 {
		t.Errorf("%d addresses kept, bound 8", kept)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "identityAt: the input has more than 8 source addresses") {
		t.Errorf("warnings: %q", res.Warnings)
	}
}

// twoSinks is an engine of the shipped rules and two of its sinks.
func twoSinks(t *testing.T) (*Engine, []*Sink) {
	t.Helper()
	rs, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return eng, []*Sink{eng.NewSink().(*Sink), eng.NewSink().(*Sink)}
}

// see is identityAt's part of Sink.Event.
func see(s *Sink, ev *audit.Event, t int64) {
	kind, a := s.prefetchIP(ev)
	s.seeAddr(kind, a, ev, t)
}
