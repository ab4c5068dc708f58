package controlplane

import (
	"os"
	"strings"
	"testing"
)

// TestNetnsLifecycle makes namespaces, checks their addresses are distinct
// and reachable only through their veths, removes them, and removes the
// namespaces a dead test process left behind.
func TestNetnsLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	// What a test process killed by SIGKILL leaves: pid 4194303 is above
	// the default pid_max, so no live process has it.
	const stale, staleIf = netnsPrefix + "4194303-0", "ka4194303h0"
	if err := ip("netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	if err := ip("link", "add", staleIf, "type", "veth", "peer", "name", "ka4194303n0"); err != nil {
		t.Fatal(err)
	}
	nses, err := newNetnses(2)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, ns := range nses {
			_ = ns.remove()
		}
	}()
	if list, _ := ipOutput("netns", "list"); strings.Contains(list, stale) {
		t.Errorf("the stale namespace %s is still there", stale)
	}
	if _, err := ipOutput("link", "show", staleIf); err == nil {
		t.Errorf("the stale veth %s is still there", staleIf)
	}
	if nses[0].NSIP.Equal(nses[1].NSIP) || nses[0].HostIP.Equal(nses[1].HostIP) {
		t.Fatalf("two namespaces share an address: %v %v", nses[0].NSIP, nses[1].NSIP)
	}
	for _, ns := range nses {
		// Inside, the address is its own; the host side answers on the veth.
		out, err := ipOutput("netns", "exec", ns.Name, "ip", "-o", "-4", "addr", "show", "dev", ns.NSIf)
		if err != nil || !strings.Contains(out, ns.NSIP.String()+"/30") {
			t.Errorf("%s: %s has not %s/30: %q %v", ns.Name, ns.NSIf, ns.NSIP, out, err)
		}
		if out, err := ipOutput("netns", "exec", ns.Name, "ip", "route", "get", ns.HostIP.String()); err != nil || !strings.Contains(out, "dev "+ns.NSIf) {
			t.Errorf("%s: the host side %s is not reached through %s: %q %v", ns.Name, ns.HostIP, ns.NSIf, out, err)
		}
	}
	for _, ns := range nses {
		if err := ns.remove(); err != nil {
			t.Error(err)
		}
		if err := ns.remove(); err != nil {
			t.Errorf("second remove: %v", err)
		}
		list, _ := ipOutput("netns", "list")
		if strings.Contains(list, ns.Name) {
			t.Errorf("%s still listed after remove", ns.Name)
		}
		if _, err := ipOutput("link", "show", ns.HostIf); err == nil {
			t.Errorf("%s still there after remove", ns.HostIf)
		}
	}
}

func TestBlockIP(t *testing.T) {
	for _, tc := range []struct {
		block, host int
		want        string
	}{{0, 1, "10.213.0.1"}, {0, 2, "10.213.0.2"}, {2, 2, "10.213.0.10"}, {64, 1, "10.213.1.1"}, {16383, 2, "10.213.255.254"}} {
		if got := blockIP(tc.block, tc.host).String(); got != tc.want {
			t.Errorf("block %d host %d: %s, want %s", tc.block, tc.host, got, tc.want)
		}
	}
}
