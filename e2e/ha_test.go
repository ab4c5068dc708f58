package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-audit/kubectl-audit/e2e/binaries"
	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// TestFromNodesHA reads the audit logs of three real kube-apiservers (one
// etcd) through the node proxy: each writes a rotated, gzip'd log into the
// /var/log/ of a control-plane Node whose "kubelet" is a log server in a
// network namespace, serving that directory as the kubelet does.
func TestFromNodesHA(t *testing.T) {
	h := controlplane.StartHA(t, controlplane.HAOptions{})
	ctx := context.Background()
	until := haTraffic(ctx, t, h, 2)
	for _, a := range h.APIServers {
		t.Logf("%s: %s", a.Node, strings.Join(backups(t, a.AuditDir), " "))
	}
	bound := "--until=" + until.UTC().Format(time.RFC3339Nano)
	// The reads' own requests are not audited (controlplane.HAAuditPolicy).
	admin := "--kubeconfig=" + h.ReaderKubeconfigPath
	var dirs, fromDirs []string
	for _, a := range h.APIServers {
		dirs = append(dirs, a.AuditDir)
		fromDirs = append(fromDirs, "-f", a.AuditDir)
	}
	commands := [][]string{
		{"top", "--no-link", "-o", "json", "--by", "user,verb"},
		{"top", "--no-link"},
		{"top", "--no-link", "--by", "sourceip,code", "--every", "10s"},
		{"detect", "--no-link", "-o", "json"},
		{"why", "deployment/web", "-n", haNamespace, "--no-link", "-o", "json"},
	}
	run := func(t *testing.T, args ...string) (string, string) {
		t.Helper()
		out, errOut, code := plugin(t, args...)
		if code != 0 {
			t.Fatalf("kubectl-audit %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
		}
		return out, errOut
	}
	with := func(cmd []string, more ...string) []string {
		return append(append([]string(nil), cmd...), more...)
	}

	t.Run("--from nodes gives what -f gives over the three directories", func(t *testing.T) {
		for _, cmd := range commands {
			start := time.Now()
			want, _ := run(t, with(cmd, append(fromDirs, bound)...)...)
			local := time.Since(start)
			start = time.Now()
			got, errOut := run(t, with(cmd, admin, "--from", "nodes", bound)...)
			t.Logf("%s: -f over the three directories %s, --from nodes %s", strings.Join(cmd, " "), local.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			if got != want {
				t.Errorf("%s: --from nodes differs from -f DIR1 -f DIR2 -f DIR3:\n%s\nwant:\n%s\n%s\n%s", strings.Join(cmd, " "), head(got), head(want), errOut, listDirs(t, dirs))
			}
			for _, a := range h.APIServers {
				if !regexp.MustCompile(`(?m)^node/` + a.Node + `: [3-9]\d* file\(s\), `).MatchString(errOut) {
					t.Errorf("%s: the summary does not name node %s with its backups:\n%s", cmd[0], a.Node, errOut)
				}
			}
			if !regexp.MustCompile(`(?m)^  /var/log/kubernetes/audit/audit-\d{4}-\d\d-\d\dT[\d-]+\.\d{3}\.log\.gz: `).MatchString(errOut) ||
				!strings.Contains(errOut, "  /var/log/kubernetes/audit/audit.log: ") || !strings.Contains(errOut, ", 0 skipped") {
				t.Errorf("%s: the summary does not list the gzip'd backups and the live files read without skipping:\n%s", cmd[0], errOut)
			}
		}
		// Not trivially equal: the history is in the three logs, and the
		// totals are those of thousands of requests.
		why, _ := run(t, with(commands[4], admin, "--from", "nodes", bound)...)
		for _, ip := range []string{"127.0.2.1", "127.0.2.2", "127.0.2.3"} {
			if !strings.Contains(why, `"`+ip+`"`) {
				t.Errorf("why deployment/web: no change from %s (one apiserver's log missing?)", ip)
			}
		}
		top, _ := run(t, with(commands[0], admin, "--from", "nodes", bound)...)
		var res topJSON
		if err := json.Unmarshal([]byte(top), &res); err != nil {
			t.Fatal(err)
		}
		if res.Total.Count < 5000 {
			t.Errorf("top counts %d requests; the traffic made more than 5000", res.Total.Count)
		}
		detect, _ := run(t, with(commands[3], admin, "--from", "nodes", bound)...)
		if !strings.Contains(detect, "rbac-denied") || !strings.Contains(detect, "alice") {
			t.Errorf("detect over the three logs does not find alice's denied secret lists:\n%s", head(detect))
		}
	})

	// The three logs overlap in time. Equal output needs the reader to merge
	// them by time (issue 11, item 3); without it, detect's evidence and
	// window order follow the input order.
	t.Run("--from nodes gives what one file of the three logs sorted by time gives", func(t *testing.T) {
		sorted := sortedLog(t, dirs)
		for _, cmd := range commands {
			want, _ := run(t, with(cmd, "-f", sorted, bound)...)
			got, _ := run(t, with(cmd, admin, "--from", "nodes", bound)...)
			if got != want {
				t.Errorf("%s: --from nodes differs from the sorted log:\n%s\nwant:\n%s", strings.Join(cmd, " "), head(got), head(want))
			}
		}
	})

	t.Run("a user without nodes/proxy is told the permission, the nodes and the rule", func(t *testing.T) {
		alice, bob := controlplane.StaticUsers[0], controlplane.StaticUsers[1]
		aliceCfg, err := h.TokenKubeconfig(0, alice)
		if err != nil {
			t.Fatal(err)
		}
		bobCfg, err := h.TokenKubeconfig(1, bob)
		if err != nil {
			t.Fatal(err)
		}
		grant(ctx, t, h, "node-lister", alice.Name, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"list"}}})

		// Bob may not even list nodes; by name he needs no list.
		_, errOut, code := plugin(t, "top", "--no-link", "--kubeconfig="+bobCfg, "--from", "nodes")
		if code != 1 || !strings.Contains(errOut, `needs "list" on "nodes"`) || !strings.Contains(errOut, `resources: ["nodes"]`) {
			t.Errorf("bob --from nodes: exit %d\n%s", code, errOut)
		}
		_, errOut, code = plugin(t, "top", "--no-link", "--kubeconfig="+bobCfg, "--from", "node/cp-2")
		if code != 1 || !strings.Contains(errOut, `node/cp-2: forbidden: reading audit logs from nodes needs "get" on "nodes/proxy"`) ||
			!strings.Contains(errOut, `User "bob" cannot get resource "nodes/proxy"`) {
			t.Errorf("bob --from node/cp-2: exit %d\n%s", code, errOut)
		}

		// Alice lists the three nodes and is refused on each.
		_, errOut, code = plugin(t, "top", "--no-link", "--kubeconfig="+aliceCfg, "--from", "nodes")
		if code != 1 || !strings.Contains(errOut, `node/cp-1, node/cp-2, node/cp-3: forbidden: reading audit logs from nodes needs "get" on "nodes/proxy"`) {
			t.Fatalf("alice --from nodes: exit %d\n%s", code, errOut)
		}
		// The rule printed is enough: granted, alice reads what admin reads.
		grant(ctx, t, h, "audit-log-reader", alice.Name, printedRules(t, errOut))
		want, _ := run(t, with(commands[0], admin, "--from", "nodes", bound)...)
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, errOut, code := plugin(t, with(commands[0], "--kubeconfig="+aliceCfg, "--from", "nodes", bound)...)
			if code == 0 {
				if got != want {
					t.Errorf("alice, granted the printed rule, reads other than admin:\n%s\nwant:\n%s", head(got), head(want))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("alice, granted the printed rule, still cannot read: exit %d\n%s", code, errOut)
			}
			time.Sleep(500 * time.Millisecond)
		}
		// Her reads are in cp-1's apiserver's log under our user agent, which
		// users can leave out of their analyses.
		out, _ := run(t, "top", "-f", h.APIServers[0].AuditDir, "--no-link", "--by", "useragent,resource", "--raw-useragent", "-o", "json",
			"--where", `user == "alice" && resource == "nodes"`)
		var res topJSON
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Tables) == 0 || len(res.Tables[0].Rows) == 0 {
			t.Fatalf("no request of alice's on nodes in cp-1's log:\n%s", out)
		}
		for _, r := range res.Tables[0].Rows {
			if ua := r.Key["useragent"]; !regexp.MustCompile(`^kubectl-audit/[^ ]+$`).MatchString(ua) {
				t.Errorf("alice's %s requests have user agent %q, want kubectl-audit/<version>", r.Key["resource"], ua)
			}
		}
	})

	t.Run("a stopped log server: the two other nodes are read and it is reported", func(t *testing.T) {
		down := h.APIServers[2]
		if err := h.StopLogServer(down); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := h.StartLogServer(ctx, down); err != nil {
				t.Errorf("restart %s's log server: %v", down.Node, err)
			}
		}()
		want, wantErr := run(t, with(commands[0], "-f", dirs[0], "-f", dirs[1], bound)...)
		got, errOut := run(t, with(commands[0], admin, "--from", "nodes", bound)...)
		if got != want {
			t.Errorf("--from nodes with cp-3 down differs from -f over cp-1's and cp-2's logs:\n%s\nwant:\n%s\n%s\n%s\n%s", head(got), head(want), errOut, wantErr, listDirs(t, dirs))
		}
		for _, w := range []string{
			"warning: node/cp-3 not read: the kubelet did not answer through the API server's node proxy",
			", 1 of 3 nodes not read\n",
		} {
			if !strings.Contains(errOut, w) {
				t.Errorf("stderr lacks %q:\n%s", w, errOut)
			}
		}
		for _, n := range []string{"cp-1", "cp-2"} {
			if !strings.Contains(errOut, "\nnode/"+n+": ") && !strings.HasPrefix(errOut, "node/"+n+": ") {
				t.Errorf("stderr does not report %s as read:\n%s", n, errOut)
			}
		}
		if _, _, code := plugin(t, with(commands[0], admin, "--from", "nodes", bound, "--strict")...); code != 3 {
			t.Errorf("--strict with a node not read: exit %d, want 3", code)
		}
	})

	t.Run("a download cut through the real node proxy resumes with a Range request", func(t *testing.T) {
		a := h.APIServers[1]
		restart := func(args ...string) {
			t.Helper()
			if err := h.StopLogServer(a); err != nil {
				t.Fatal(err)
			}
			a.LogServerArgs = args
			if err := h.StartLogServer(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		restart("-cut-once", "50000")
		defer restart()
		want, _ := run(t, with(commands[0], "-f", a.AuditDir, bound)...)
		got, errOut := run(t, with(commands[0], admin, "--from", "node/"+a.Node, bound)...)
		if got != want {
			t.Errorf("--from node/%s with its downloads cut differs from -f over its log:\n%s\nwant:\n%s\n%s", a.Node, head(got), head(want), errOut)
		}
		log, err := os.ReadFile(a.LogServerLogPath)
		if err != nil {
			t.Fatal(err)
		}
		// Every file (the gzip'd backups too) was cut once and resumed from
		// what had come through the proxy, less the overlap checked.
		cuts := regexp.MustCompile(`(?m)^cut (\S+) after`).FindAllStringSubmatch(string(log), -1)
		files := 1 + len(backups(t, a.AuditDir))
		if len(cuts) != files {
			t.Errorf("%d downloads cut, want one per file (%d):\n%s", len(cuts), files, log)
		}
		for _, c := range cuts {
			m := regexp.MustCompile(`(?m)^GET ` + regexp.QuoteMeta(c[1]) + ` range="bytes=(\d+)-"$`).FindStringSubmatch(string(log))
			if m == nil {
				t.Errorf("%s was cut and not resumed with a Range request:\n%s", c[1], log)
				continue
			}
			if n, _ := strconv.Atoi(m[1]); n <= 0 || n > 50000-512 {
				t.Errorf("%s was cut after 50000 bytes and resumed from byte %d", c[1], n)
			}
		}
		if !strings.Contains(errOut, ", 0 skipped") {
			t.Errorf("the resumed read skipped lines:\n%s", errOut)
		}
	})

	t.Run("fetch speed against kubectl get --raw piped into -f -", func(t *testing.T) {
		fetchSpeed(ctx, t, h)
	})
}

// grant binds user to a new ClusterRole of rules.
func grant(ctx context.Context, t *testing.T, h *controlplane.HA, name, user string, rules []rbacv1.PolicyRule) {
	t.Helper()
	rbac := h.Client.RbacV1()
	if _, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// printedRules parses the ClusterRole rule the permission error prints
// (apiGroups, resources and verbs, each a JSON list).
func printedRules(t *testing.T, msg string) []rbacv1.PolicyRule {
	t.Helper()
	m := regexp.MustCompile(`- apiGroups: (\[.*\])\n  resources: (\[.*\])\n  verbs: (\[.*\])`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("no ClusterRole rule in:\n%s", msg)
	}
	var r rbacv1.PolicyRule
	for i, dst := range []*[]string{&r.APIGroups, &r.Resources, &r.Verbs} {
		if err := json.Unmarshal([]byte(m[i+1]), dst); err != nil {
			t.Fatalf("rule %q: %v", m[0], err)
		}
	}
	return []rbacv1.PolicyRule{r}
}

// fetchSpeed compares `--from node/cp-1` with `kubectl get --raw` of the
// same file through the same node proxy piped into `-f -`, on a generated
// log put in cp-1's /var/log/.
func fetchSpeed(ctx context.Context, t *testing.T, h *controlplane.HA) {
	kubectl, err := binaries.EnsureKubectl(ctx, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	node := h.APIServers[0]
	dir := filepath.Join(node.LogRoot, "bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "audit.log")
	gen := exec.Command("go", "run", "./cmd/audit-corpus", "-size", "256MB", "-o", file)
	gen.Dir = ".."
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("audit-corpus: %v\n%s", err, out)
	}
	mb := float64(size(t, file)) / 1e6
	bin := pluginBinary(t)
	args := []string{"top", "--by", "user", "--no-link", "-q"}
	fromNodes := exec.Command(bin, append(args, "--kubeconfig="+h.ReaderKubeconfigPath, "--from", "node/"+node.Node, "--node-path", "bench/audit.log")...)
	raw := exec.Command("sh", "-c", fmt.Sprintf("%s --kubeconfig=%s get --raw /api/v1/nodes/%s/proxy/logs/bench/audit.log | %s %s -f -",
		kubectl, h.ReaderKubeconfigPath, node.Node, bin, strings.Join(args, " ")))
	timeRun := func(c *exec.Cmd) (time.Duration, string) {
		cmd := exec.Command(c.Args[0], c.Args[1:]...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c.Args, " "), err, errOut.String())
		}
		return time.Since(start), out.String()
	}
	best := func(d []time.Duration) time.Duration {
		b := d[0]
		for _, x := range d[1:] {
			b = min(b, x)
		}
		return b
	}
	var tNodes, tRaw []time.Duration
	var outNodes, outRaw string
	for range 3 {
		d, out := timeRun(fromNodes)
		tNodes, outNodes = append(tNodes, d), out
		d, out = timeRun(raw)
		tRaw, outRaw = append(tRaw, d), out
	}
	if outNodes != outRaw {
		t.Errorf("--from node/cp-1 and kubectl get --raw | -f - disagree:\n%s\nvs\n%s", head(outNodes), head(outRaw))
	}
	sn, sr := mb/best(tNodes).Seconds(), mb/best(tRaw).Seconds()
	t.Logf("fetch %.0f MB through the node proxy, best of 3: --from node/cp-1 %s (%.0f MB/s), kubectl get --raw | -f - %s (%.0f MB/s): %.0f%%; all runs %v vs %v",
		mb, best(tNodes).Round(time.Millisecond), sn, best(tRaw).Round(time.Millisecond), sr, 100*sn/sr, tNodes, tRaw)
	if sn < 0.8*sr {
		t.Errorf("--from nodes reads at %.0f%% of kubectl get --raw piped into -f -; want at least 80%%", 100*sn/sr)
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// listDirs lists the audit directories, for failure messages.
func listDirs(t *testing.T, dirs []string) string {
	var b strings.Builder
	for _, d := range dirs {
		es, _ := os.ReadDir(d)
		fmt.Fprintf(&b, "%s:", d)
		for _, e := range es {
			if fi, err := e.Info(); err == nil {
				fmt.Fprintf(&b, " %s (%d)", e.Name(), fi.Size())
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// head is the start of a long output, for failure messages.
func head(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "\n..."
	}
	return s
}
