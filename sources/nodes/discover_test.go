package nodes

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var cpLabels = map[string]string{ControlPlaneLabel: ""}

type nodeFixture struct {
	labels          map[string]string
	files           map[string]string // path under /var/log → content ("dir/" makes a directory)
	forbidden, down bool
}

func TestDiscover(t *testing.T) {
	kubeadm := map[string]string{
		"kubernetes/audit/audit.log":                              "live\n",
		"kubernetes/audit/audit-2026-11-24T10-00-00.000.log.gz":   "gz1",
		"kubernetes/audit/audit-2026-11-24T09-00-00.000.log.gz":   "gz0",
		"kubernetes/audit/audit-2026-11-24T11-00-00.000.log":      "plain2\n",
		"kubernetes/audit/.audit.log.swp":                         "x",
		"pods/":                                                   "",
		"containers/kube-apiserver-cp-1_kube-system_x-123.log":    "cri",
		"kubernetes/kube-apiserver.log":                           "not audit",
		"kubernetes/audit-policy.yaml":                            "not a log",
		"kubernetes/audit/audit-2026-11-24T11-00-00.000.log.lock": "",
	}
	tests := []struct {
		name  string
		nodes map[string]nodeFixture
		opts  Options
		// want are the File names in order.
		want []string
		// wantPruned per node.
		wantPruned map[string][]string
		// wantNodeErr: node → substrings of its error.
		wantNodeErr map[string][]string
		// wantErr: substrings of Discover's error.
		wantErr []string
	}{{
		name:  "kubeadm: lumberjack backups oldest first, then the live file",
		nodes: map[string]nodeFixture{"cp-1": {labels: cpLabels, files: kubeadm}, "worker-1": {files: kubeadm}},
		want: []string{
			"node/cp-1:/var/log/kubernetes/audit/audit-2026-11-24T09-00-00.000.log.gz",
			"node/cp-1:/var/log/kubernetes/audit/audit-2026-11-24T10-00-00.000.log.gz",
			"node/cp-1:/var/log/kubernetes/audit/audit-2026-11-24T11-00-00.000.log",
			"node/cp-1:/var/log/kubernetes/audit/audit.log",
		},
	}, {
		name: "three nodes, sorted by name; numbered backups",
		nodes: map[string]nodeFixture{
			"cp-b": {labels: cpLabels, files: map[string]string{"kubernetes/audit/audit.log": "b", "kubernetes/audit/audit.log.1.gz": "b1", "kubernetes/audit/audit.log.2.gz": "b2", "kubernetes/audit/audit.log.10.gz": "b10"}},
			"cp-a": {labels: cpLabels, files: map[string]string{"kubernetes/audit/audit.log": "a"}},
			"cp-c": {labels: cpLabels, files: map[string]string{"kubernetes/audit.log": "c"}},
		},
		want: []string{
			"node/cp-a:/var/log/kubernetes/audit/audit.log",
			"node/cp-b:/var/log/kubernetes/audit/audit.log.10.gz",
			"node/cp-b:/var/log/kubernetes/audit/audit.log.2.gz",
			"node/cp-b:/var/log/kubernetes/audit/audit.log.1.gz",
			"node/cp-b:/var/log/kubernetes/audit/audit.log",
			"node/cp-c:/var/log/kubernetes/audit.log",
		},
	}, {
		name: "OpenShift: three API servers' logs, termination.log left out",
		nodes: map[string]nodeFixture{"master-0": {labels: map[string]string{legacyControlPlaneLabel: ""}, files: map[string]string{
			"kube-apiserver/audit.log":                         "k",
			"kube-apiserver/audit-2026-11-24T10-00-00.000.log": "k0",
			"kube-apiserver/termination.log":                   "t",
			"openshift-apiserver/audit.log":                    "o",
			"oauth-apiserver/audit.log":                        "oa",
		}}},
		want: []string{
			"node/master-0:/var/log/kube-apiserver/audit-2026-11-24T10-00-00.000.log",
			"node/master-0:/var/log/kube-apiserver/audit.log",
			"node/master-0:/var/log/openshift-apiserver/audit.log",
			"node/master-0:/var/log/oauth-apiserver/audit.log",
		},
	}, {
		name: "Talos: every file of audit/kube/",
		nodes: map[string]nodeFixture{"talos-cp": {labels: cpLabels, files: map[string]string{
			"audit/kube/kube-apiserver.log":                         "live",
			"audit/kube/kube-apiserver-2026-11-24T10-00-00.000.log": "old",
		}}},
		want: []string{
			"node/talos-cp:/var/log/audit/kube/kube-apiserver-2026-11-24T10-00-00.000.log",
			"node/talos-cp:/var/log/audit/kube/kube-apiserver.log",
		},
	}, {
		name:  "since/until prune backups by the rotation time in their name",
		nodes: map[string]nodeFixture{"cp-1": {labels: cpLabels, files: kubeadm}},
		// 09:00 backup holds events before 09:00: out. 10:00 holds 09:00-10:00: in.
		// 11:00 holds 10:00-11:00, in; the live file starts at 11:00 (less an hour
		// of slack for long requests), in for until 11:30.
		opts: Options{Since: time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC), Until: time.Date(2026, 11, 24, 11, 30, 0, 0, time.UTC)},
		want: []string{
			"node/cp-1:/var/log/kubernetes/audit/audit-2026-11-24T10-00-00.000.log.gz",
			"node/cp-1:/var/log/kubernetes/audit/audit-2026-11-24T11-00-00.000.log",
			"node/cp-1:/var/log/kubernetes/audit/audit.log",
		},
		wantPruned: map[string][]string{"cp-1": {"/var/log/kubernetes/audit/audit-2026-11-24T09-00-00.000.log.gz"}},
	}, {
		name:  "until before a file's start (less the slack) prunes it and everything later",
		nodes: map[string]nodeFixture{"cp-1": {labels: cpLabels, files: kubeadm}},
		// The 11:00 backup starts at 10:00, less an hour: after 08:59.
		opts: Options{Until: time.Date(2026, 11, 24, 8, 59, 0, 0, time.UTC)},
		want: []string{
			"node/cp-1:/var/log/kubernetes/audit/audit-2026-11-24T09-00-00.000.log.gz",
			"node/cp-1:/var/log/kubernetes/audit/audit-2026-11-24T10-00-00.000.log.gz",
		},
		wantPruned: map[string][]string{"cp-1": {
			"/var/log/kubernetes/audit/audit-2026-11-24T11-00-00.000.log",
			"/var/log/kubernetes/audit/audit.log",
		}},
	}, {
		name:  "--node-path file, and a directory named without its slash",
		nodes: map[string]nodeFixture{"cp-1": {labels: cpLabels, files: map[string]string{"custom/a.json": "a", "custom/sub/b.log": "b", "other.log": "o"}}},
		opts:  Options{Paths: []string{"/var/log/other.log", "custom"}},
		want: []string{
			"node/cp-1:/var/log/other.log",
			"node/cp-1:/var/log/custom/a.json",
		},
	}, {
		name:  "explicit names need no list permission and need no label",
		nodes: map[string]nodeFixture{"w-1": {files: map[string]string{"kubernetes/audit/audit.log": "w"}}},
		opts:  Options{Names: []string{"w-1"}},
		want:  []string{"node/w-1:/var/log/kubernetes/audit/audit.log"},
	}, {
		name: "a node without audit files lists its /var/log/; the others are read",
		nodes: map[string]nodeFixture{
			"cp-1": {labels: cpLabels, files: kubeadm},
			"cp-2": {labels: cpLabels, files: map[string]string{"pods/": "", "journal/": "", "syslog": "s", "kubernetes/kube-apiserver.log": "x"}},
		},
		want: []string{
			"node/cp-1:/var/log/kubernetes/audit/audit-2026-11-24T09-00-00.000.log.gz",
			"node/cp-1:/var/log/kubernetes/audit/audit-2026-11-24T10-00-00.000.log.gz",
			"node/cp-1:/var/log/kubernetes/audit/audit-2026-11-24T11-00-00.000.log",
			"node/cp-1:/var/log/kubernetes/audit/audit.log",
		},
		wantNodeErr: map[string][]string{"cp-2": {"node/cp-2: no audit log in /var/log/kubernetes/audit/", "/var/log/audit/kube/", "holds: journal/ kubernetes/ pods/ syslog", "--node-path"}},
	}, {
		name: "nodes/proxy forbidden on one node: named with the rule; the others are read",
		nodes: map[string]nodeFixture{
			"cp-1": {labels: cpLabels, files: map[string]string{"kubernetes/audit/audit.log": "1"}},
			"cp-2": {labels: cpLabels, forbidden: true},
		},
		want: []string{"node/cp-1:/var/log/kubernetes/audit/audit.log"},
		wantNodeErr: map[string][]string{"cp-2": {
			`node/cp-2: forbidden: reading audit logs from nodes needs "get" on "nodes/proxy"`,
			"- apiGroups: [\"\"]\n  resources: [\"nodes/proxy\"]\n  verbs: [\"get\"]",
			`User "alice" cannot get resource "nodes/proxy"`,
		}},
	}, {
		name: "forbidden everywhere: one error naming every node and the rule once",
		nodes: map[string]nodeFixture{
			"cp-1": {labels: cpLabels, forbidden: true},
			"cp-2": {labels: cpLabels, forbidden: true},
		},
		wantErr: []string{"node/cp-1, node/cp-2: forbidden", `resources: ["nodes/proxy"]`},
	}, {
		name: "a kubelet that does not answer is reported; the others are read",
		nodes: map[string]nodeFixture{
			"cp-1": {labels: cpLabels, down: true},
			"cp-2": {labels: cpLabels, files: map[string]string{"kubernetes/audit/audit.log": "2"}},
		},
		want:        []string{"node/cp-2:/var/log/kubernetes/audit/audit.log"},
		wantNodeErr: map[string][]string{"cp-1": {"node/cp-1: the kubelet did not answer", "connection refused"}},
	}, {
		name:    "no control-plane nodes points to the bucket and cloud sources",
		nodes:   map[string]nodeFixture{"worker-1": {files: kubeadm}},
		wantErr: []string{"no control-plane nodes", ControlPlaneLabel, "-f s3://", "--from cloudwatch://", "--node-selector"},
	}, {
		name:    "a selector nothing matches says so",
		nodes:   map[string]nodeFixture{"cp-1": {labels: cpLabels, files: kubeadm}},
		opts:    Options{Selector: "tier=audit"},
		wantErr: []string{`no nodes match --node-selector "tier=audit"`},
	}, {
		name:    "an unknown node by name",
		nodes:   map[string]nodeFixture{"cp-1": {labels: cpLabels, files: kubeadm}},
		opts:    Options{Names: []string{"cp-9"}},
		wantErr: []string{"node/cp-9: no such node"},
	}, {
		name:    "--node-path outside /var/log",
		nodes:   map[string]nodeFixture{"cp-1": {labels: cpLabels, files: kubeadm}},
		opts:    Options{Paths: []string{"/etc/kubernetes/audit.log"}},
		wantErr: []string{"the kubelet serves only /var/log/"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := map[string]*fakeNode{}
			for name, f := range tc.nodes {
				root := t.TempDir()
				writeFiles(t, root, f.files)
				nodes[name] = &fakeNode{labels: f.labels, root: root, forbidden: f.forbidden, down: f.down}
			}
			fc := newFakeCluster(t, nodes)
			o := tc.opts
			o.Version, o.Backoff = "v9.9.9", time.Millisecond
			files, rep, err := Discover(context.Background(), fc.config(), o)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error; files %v", names(files))
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q\nlacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(files); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, nr := range rep.Nodes {
				wantErr := tc.wantNodeErr[nr.Node]
				switch {
				case len(wantErr) == 0 && nr.Err != nil:
					t.Errorf("node %s: unexpected error %v", nr.Node, nr.Err)
				case len(wantErr) > 0 && nr.Err == nil:
					t.Errorf("node %s: no error, want %q", nr.Node, wantErr)
				}
				for _, w := range wantErr {
					if nr.Err != nil && !strings.Contains(nr.Err.Error(), w) {
						t.Errorf("node %s error %q\nlacks %q", nr.Node, nr.Err, w)
					}
				}
				if got, want := strings.Join(nr.Pruned, "\n"), strings.Join(tc.wantPruned[nr.Node], "\n"); got != want {
					t.Errorf("node %s pruned:\n%s\nwant:\n%s", nr.Node, got, want)
				}
			}
			if len(rep.Failed()) != len(tc.wantNodeErr) {
				t.Errorf("%d failed nodes, want %d", len(rep.Failed()), len(tc.wantNodeErr))
			}
			// Every file reads back byte for byte what is on the node, and its
			// size was known before the download.
			for _, f := range files {
				want := tc.nodes[f.Node].files[strings.TrimPrefix(f.Path, "/var/log/")]
				if f.Size != int64(len(want)) {
					t.Errorf("%s: size %d, want %d", f.Name, f.Size, len(want))
				}
				if got := readAll(t, f); got != want {
					t.Errorf("%s: read %q, want %q", f.Name, got, want)
				}
			}
			for ua := range fc.userAgents {
				if ua != "kubectl-audit/v9.9.9" {
					t.Errorf("request with user agent %q, want kubectl-audit/v9.9.9", ua)
				}
			}
		})
	}
}

func TestDiscoverListForbidden(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"kubernetes/audit/audit.log": "x"})
	fc := newFakeCluster(t, map[string]*fakeNode{"cp-1": {labels: cpLabels, root: root}})
	fc.listForbidden = true
	_, _, err := Discover(context.Background(), fc.config(), Options{})
	var pe *PermissionError
	if !errors.As(err, &pe) || pe.Verb != "list" || pe.Resource != "nodes" {
		t.Fatalf("error %v, want a PermissionError for list nodes", err)
	}
	for _, w := range []string{`needs "list" on "nodes"`, `resources: ["nodes"]`, `verbs: ["list"]`, "--from node/NAME"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestDiscoverLegacyLabel(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"kubernetes/audit/audit.log": "x"})
	fc := newFakeCluster(t, map[string]*fakeNode{"m-1": {labels: map[string]string{legacyControlPlaneLabel: ""}, root: root}})
	files, _, err := Discover(context.Background(), fc.config(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Node != "m-1" {
		t.Fatalf("files %v", names(files))
	}
	if got := strings.Join(fc.listSelections, " "); got != ControlPlaneLabel+" "+legacyControlPlaneLabel {
		t.Errorf("selectors tried %q", got)
	}
}

func TestNodePaths(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "kubernetes/audit/", want: "kubernetes/audit/"},
		{in: "/var/log/kubernetes/audit/audit.log", want: "kubernetes/audit/audit.log"},
		{in: "/var/log/", want: ""},
		{in: "/var/log", want: ""},
		{in: "custom", want: "custom"},
		{in: "/var/logs/x", err: "only /var/log/"},
		{in: "/etc/passwd", err: "only /var/log/"},
		{in: "../etc/passwd", want: "etc/passwd"},
	} {
		got, err := nodePaths([]string{tc.in})
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case got[0] != tc.want:
			t.Errorf("%q: %q, want %q", tc.in, got[0], tc.want)
		}
	}
}

func names(fs []File) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

func readAll(t *testing.T, f File) string {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatalf("%s: open: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: read: %v", f.Name, err)
	}
	return string(b)
}

// TestCompressionInProgress: kube-apiserver gzips a backup beside it, then
// removes the uncompressed one. Seen in between, the uncompressed file is
// read (the .gz may be half written), and its .gz if it is gone by then.
func TestCompressionInProgress(t *testing.T) {
	root := t.TempDir()
	const backup = "kubernetes/audit/audit-2026-11-24T10-00-00.000.log"
	writeFiles(t, root, map[string]string{
		backup:                       "whole\n",
		backup + ".gz":               "\x1f\x8b half",
		"kubernetes/audit/audit.log": "live\n",
	})
	fc := newFakeCluster(t, map[string]*fakeNode{"cp-1": {labels: cpLabels, root: root}})
	files, _, err := Discover(context.Background(), fc.config(), Options{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"node/cp-1:/var/log/" + backup, "node/cp-1:/var/log/kubernetes/audit/audit.log"}
	if got := names(files); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", got, want)
	}
	// The compression finishes before the read.
	writeFiles(t, root, map[string]string{backup + ".gz": "\x1f\x8b whole"})
	if err := os.Remove(filepath.Join(root, backup)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, files[0]); got != "\x1f\x8b whole" {
		t.Errorf("read %q, want the finished .gz", got)
	}
}
