package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// netns is a network namespace the test made, joined to the host by a veth
// pair on a /30 of 10.213.0.0/16: the host side has .1 of the block, the
// namespace .2. The API server's node proxy refuses loopback addresses, so a
// "kubelet" the proxy can reach must listen on an address like NSIP.
type netns struct {
	Name         string
	HostIf, NSIf string
	HostIP, NSIP net.IP

	createdNetns, createdHostIf, removed bool
}

// netnsPrefix names every namespace the tests make: kaudit-<pid>-<i>, so a
// later run can remove those of a test process that died (SIGKILL) without
// cleaning up.
const netnsPrefix = "kaudit-"

var netnsName = regexp.MustCompile(`^` + netnsPrefix + `(\d+)-(\d+)$`)

// ip runs the ip command.
func ip(args ...string) error {
	cmd := exec.Command("ip", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func ipOutput(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// newNetnses makes n network namespaces with their veth pairs. It needs
// root (CAP_NET_ADMIN, CAP_SYS_ADMIN). A lock file keeps concurrent test
// processes from picking the same addresses.
func newNetnses(n int) (out []*netns, err error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("the HA control plane needs the ip command (iproute2): %w", err)
	}
	unlock, err := lockFile(filepath.Join(os.TempDir(), "kubectl-audit-e2e-netns.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	removeStaleNetnses()
	used, err := usedAddresses()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			for _, ns := range out {
				err = errors.Join(err, ns.remove())
			}
			out = nil
		}
	}()
	block := 0
	for i := range n {
		for ; block < 16384; block++ {
			host := blockIP(block, 1)
			if !used[host.String()] && !used[blockIP(block, 2).String()] {
				break
			}
		}
		if block == 16384 {
			return out, errors.New("no free /30 left in 10.213.0.0/16")
		}
		pid := os.Getpid()
		ns := &netns{
			Name:   fmt.Sprintf("%s%d-%d", netnsPrefix, pid, i),
			HostIf: fmt.Sprintf("ka%dh%d", pid, i),
			NSIf:   fmt.Sprintf("ka%dn%d", pid, i),
			HostIP: blockIP(block, 1),
			NSIP:   blockIP(block, 2),
		}
		block++
		out = append(out, ns)
		if err := ns.create(); err != nil {
			return out, err
		}
	}
	return out, nil
}

// blockIP is address host (1 or 2) of /30 block b of 10.213.0.0/16.
func blockIP(b, host int) net.IP {
	v := b*4 + host
	return net.IPv4(10, 213, byte(v>>8), byte(v&0xff)).To4()
}

func (ns *netns) create() error {
	if len(ns.HostIf) > 15 || len(ns.NSIf) > 15 {
		return fmt.Errorf("interface names %s, %s: longer than 15 characters", ns.HostIf, ns.NSIf)
	}
	if err := ip("netns", "add", ns.Name); err != nil {
		return err
	}
	ns.createdNetns = true
	if err := ip("link", "add", ns.HostIf, "type", "veth", "peer", "name", ns.NSIf); err != nil {
		return err
	}
	ns.createdHostIf = true
	for _, args := range [][]string{
		{"link", "set", ns.NSIf, "netns", ns.Name},
		{"addr", "add", ns.HostIP.String() + "/30", "dev", ns.HostIf},
		{"link", "set", ns.HostIf, "up"},
		{"netns", "exec", ns.Name, "ip", "addr", "add", ns.NSIP.String() + "/30", "dev", ns.NSIf},
		{"netns", "exec", ns.Name, "ip", "link", "set", ns.NSIf, "up"},
		{"netns", "exec", ns.Name, "ip", "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes the namespace and the veth pair; it is safe to call twice.
func (ns *netns) remove() error {
	if ns.removed {
		return nil
	}
	ns.removed = true
	var errs []error
	if ns.createdHostIf {
		// Deleting one end deletes the pair; it may be gone with the namespace.
		if err := ip("link", "del", ns.HostIf); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	if ns.createdNetns {
		if err := ip("netns", "del", ns.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeStaleNetnses deletes the namespaces (and so their veths) of test
// processes that are gone.
func removeStaleNetnses() {
	out, err := ipOutput("netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		m := netnsName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		_ = ip("link", "del", fmt.Sprintf("ka%dh%s", pid, m[2]))
		_ = ip("netns", "del", name)
	}
}

// usedAddresses are the IPv4 addresses on the host's interfaces.
func usedAddresses() (map[string]bool, error) {
	out, err := ipOutput("-o", "-4", "addr", "show")
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				if a, _, err := net.ParseCIDR(f[i+1]); err == nil {
					used[a.String()] = true
				}
			}
		}
	}
	return used, nil
}

// lockFile takes an exclusive flock on path until unlock is called.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
