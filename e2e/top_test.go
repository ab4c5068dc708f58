package e2e

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

type topJSON struct {
	Total struct {
		Count int64 `json:"count"`
	} `json:"total"`
	Tables []struct {
		Rows []struct {
			Key    map[string]string `json:"key"`
			Count  int64             `json:"count"`
			Series []int64           `json:"series"`
			Live   string            `json:"live"`
		} `json:"rows"`
	} `json:"tables"`
}

// TestTopLive runs `kubectl audit top` on the audit log the real apiserver
// wrote while the scenarios ran, and checks it finds what they staged.
func TestTopLive(t *testing.T) {
	cp, gt := liveRun(t)
	top := func(t *testing.T, args ...string) topJSON {
		t.Helper()
		out, errOut, code := plugin(t, append([]string{"top", "-f", cp.AuditLogPath, "-o", "json", "--strict"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if !strings.Contains(errOut, ", 0 skipped") {
			t.Errorf("a real log should read without skipping: %s", errOut)
		}
		var res topJSON
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}

	t.Run("the fast kubelet ranks first by node", func(t *testing.T) {
		res := top(t, "--by", "node", "--where", `resource == "nodes" && subresource == "status"`)
		rows := res.Tables[0].Rows
		if len(rows) < 2 || rows[0].Key["node"] != gt.NodeRates.FastNode {
			t.Fatalf("rows %+v, want %s first", rows, gt.NodeRates.FastNode)
		}
		// Each node's row counts exactly the status patches its kubelet
		// sent (one more when the run stopped between a patch and its
		// lease update), however fast a loaded machine let it send them.
		sent := map[string]int{}
		for _, k := range gt.NodeRates.Kubelets {
			sent[k.Node] = k.Heartbeats
		}
		for _, r := range rows {
			want, ok := sent[r.Key["node"]]
			if !ok {
				continue
			}
			if n := int(r.Count); n != want && n != want+1 {
				t.Errorf("%s: %d status patches in top, the kubelet sent %d", r.Key["node"], n, want)
			}
		}
		if sent[gt.NodeRates.FastNode] < 2*int(rows[1].Count) {
			t.Logf("note: the machine let %s send only %d heartbeats (the next node %d)", gt.NodeRates.FastNode, sent[gt.NodeRates.FastNode], rows[1].Count)
		}
	})
	t.Run("403s are the traefik service account listing secrets", func(t *testing.T) {
		res := top(t, "--by", "user,resource,verb", "--where", "code == 403")
		r := res.Tables[0].Rows[0]
		if r.Key["user"] != "system:serviceaccount:traefik:traefik" || r.Key["resource"] != "secrets" || r.Key["verb"] != "list" {
			t.Errorf("top 403 row %v", r.Key)
		}
	})
	t.Run("401s come from the staged addresses", func(t *testing.T) {
		res := top(t, "--by", "sourceip", "--where", "code == 401")
		var got []string
		for _, r := range res.Tables[0].Rows {
			got = append(got, r.Key["sourceip"])
		}
		sort.Strings(got)
		var want []string
		for _, n := range gt.ExpiredCerts.ExpiredNodes {
			want = append(want, n.Address)
		}
		for _, w := range want {
			if !contains(got, w) {
				t.Errorf("401 sources %v lack expired node address %s", got, w)
			}
		}
	})
	t.Run("the 422 loop over time is the garbage collector", func(t *testing.T) {
		res := top(t, "--by", "user", "--every", "10s", "--where", "code == 422")
		r := res.Tables[0].Rows[0]
		if r.Key["user"] != "system:serviceaccount:kube-system:generic-garbage-collector" {
			t.Fatalf("422s by %v", r.Key)
		}
		busy := 0
		for _, v := range r.Series {
			if v > 0 {
				busy++
			}
		}
		if busy < 2 {
			t.Errorf("422s in %d buckets of 10s (%v): want a loop over time", busy, r.Series)
		}
	})
	t.Run("401 sources link to their Nodes", func(t *testing.T) {
		res := top(t, "--by", "sourceip", "--where", "code == 401", "--kubeconfig", cp.KubeconfigPath)
		live := map[string]string{}
		for _, r := range res.Tables[0].Rows {
			live[r.Key["sourceip"]] = r.Live
		}
		for _, n := range gt.ExpiredCerts.ExpiredNodes {
			if !strings.HasPrefix(live[n.Address], "Node "+n.Node+" (linked") {
				t.Errorf("%s: live %q, want Node %s linked", n.Address, live[n.Address], n.Node)
			}
		}
	})
	t.Run("overview", func(t *testing.T) {
		out, errOut, code := plugin(t, "top", "-f", cp.AuditLogPath)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, want := range []string{"TOTAL", "USER", "RESOURCE", "CODE", "system:node:worker-3"} {
			if !strings.Contains(out, want) {
				t.Errorf("overview lacks %q:\n%s", want, out)
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
