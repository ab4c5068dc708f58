package cmd

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/corpus"
	"github.com/kubectl-audit/kubectl-audit/notify"
	"github.com/kubectl-audit/kubectl-audit/schedule"
)

var pluginBin struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// builtPlugin builds the kubectl-audit binary once per test process.
func builtPlugin(t *testing.T) string {
	t.Helper()
	pluginBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "kubectl-audit-faults")
		if err != nil {
			pluginBin.err = err
			return
		}
		pluginBin.path = filepath.Join(dir, "kubectl-audit")
		c := exec.Command("go", "build", "-o", pluginBin.path, "./kubectl-audit")
		pluginBin.out, pluginBin.err = c.CombinedOutput()
	})
	if pluginBin.err != nil {
		t.Fatalf("go build: %v\n%s", pluginBin.err, pluginBin.out)
	}
	return pluginBin.path
}

// delivery is one request the webhook receiver got.
type delivery struct {
	key, incident, phase string
	body                 string
}

type faultReceiver struct {
	mu  sync.Mutex
	got []delivery
}

func (rv *faultReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var rep struct {
		Key      string `json:"idempotencyKey"`
		Incident string `json:"incident"`
		Phase    string `json:"phase"`
	}
	_ = json.Unmarshal(b, &rep)
	h := sha256.Sum256(b)
	rv.mu.Lock()
	rv.got = append(rv.got, delivery{key: r.Header.Get(notify.HeaderIdempotencyKey), incident: rep.Incident, phase: rep.Phase, body: hex.EncodeToString(h[:8])})
	if rep.Key != r.Header.Get(notify.HeaderIdempotencyKey) {
		rv.got[len(rv.got)-1].key = "MISMATCH:" + rep.Key
	}
	rv.mu.Unlock()
}

func (rv *faultReceiver) count() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return len(rv.got)
}

func (rv *faultReceiver) since(n int) []delivery {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]delivery(nil), rv.got[n:]...)
}

// scheduledRun runs the binary once over log with state in dir; with
// pause set, it SIGKILLs the run when it pauses there (or, for
// "random:D", after D), and reports whether it was killed.
type runner struct {
	t         *testing.T
	bin, log  string
	dir       string
	webhook   string
	jsonLines string
}

func (r *runner) args() []string {
	return []string{"detect", "-f", r.log, "--state", "file:" + filepath.Join(r.dir, "state.json"), "--no-link", "-q",
		"--report", "ongoing", "--notify", "webhook=" + r.webhook, "--notify", "file=" + r.jsonLines, "--notify-attempts", "1"}
}

func (r *runner) run(pause string) (killed bool) {
	r.t.Helper()
	c := exec.Command(r.bin, r.args()...)
	c.Env = append(os.Environ(), "KUBECONFIG=/nonexistent")
	if pause != "" && !strings.HasPrefix(pause, "random:") {
		c.Env = append(c.Env, schedule.PauseEnv+"="+pause)
	}
	stderr, err := c.StderrPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	c.Stdout = io.Discard
	if err := c.Start(); err != nil {
		r.t.Fatal(err)
	}
	paused := make(chan struct{}, 1)
	var errOut bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errOut.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "kubectl-audit: paused at ") {
				paused <- struct{}{}
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { <-done; exited <- c.Wait() }()
	var timer <-chan time.Time
	if d, ok := strings.CutPrefix(pause, "random:"); ok {
		dd, _ := time.ParseDuration(d)
		timer = time.After(dd)
	}
	select {
	case <-paused:
	case <-timer:
	case err := <-exited:
		if err != nil {
			r.t.Fatalf("run (pause %q) failed: %v\n%s", pause, err, errOut.String())
		}
		return false
	case <-time.After(60 * time.Second):
		_ = c.Process.Kill()
		r.t.Fatalf("run (pause %q) neither paused nor ended\n%s", pause, errOut.String())
	}
	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		// It ended just before the kill.
		return false
	}
	err = <-exited
	var ee *exec.ExitError
	if asExit := err != nil && errorsAs(err, &ee); asExit && !ee.Exited() {
		return true // killed by the signal
	}
	if err != nil {
		r.t.Fatalf("run (pause %q): %v\n%s", pause, err, errOut.String())
	}
	return false // it ended before the signal came
}

func errorsAs(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*ee = e
	}
	return ok
}

// TestKilledRunsLoseNothing is the property: runs killed at random points
// — while reading, after the reports were made, while the state is
// written (its temporary file synced, renamed), after it was saved, after
// each send, or at a random moment — and run again deliver to a webhook
// the same set of idempotency keys as the same runs uninterrupted;
// nothing is lost, nothing is reported as new twice, a report sent again
// carries the same key, and only a kill between a send and the state
// write that records it makes one go out again. The JSON-lines file gets
// each report exactly once.
func TestKilledRunsLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary and runs it ~80 times")
	}
	bin := builtPlugin(t)
	var buf bytes.Buffer
	// About an hour of log at 3 events/s, 16 runs of ~4 minutes each.
	if _, err := corpus.Generate(&buf, corpus.Options{Size: 12 << 20, RPS: 3, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	const segments = 16
	var cuts []int
	for k := 1; k < segments; k++ {
		c := len(data) * k / segments
		cuts = append(cuts, c+bytes.IndexByte(data[c:], '\n')+1)
	}
	cuts = append(cuts, len(data))

	setup := func(name string) (*runner, *faultReceiver, func()) {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		rv := &faultReceiver{}
		srv := httptest.NewServer(rv)
		return &runner{t: t, bin: bin, log: filepath.Join(dir, "audit.log"), dir: dir, webhook: srv.URL, jsonLines: filepath.Join(dir, "reports.jsonl")}, rv, srv.Close
	}

	// The reference: each segment appended, then one run, never killed.
	ref, refRv, stopRef := setup("reference")
	defer stopRef()
	start := time.Now()
	from := 0
	for _, to := range cuts {
		appendFile(t, ref.log, data[from:to])
		from = to
		if ref.run("") {
			t.Fatal("the reference run was killed")
		}
	}
	perRun := time.Since(start) / segments
	want := keySet(refRv.since(0))
	if len(want) < 20 {
		t.Fatalf("the reference delivered %d reports; the test needs more to kill runs among", len(want))
	}
	if n := len(refRv.since(0)); n != len(want) {
		t.Fatalf("the reference (no kills) delivered %d requests for %d keys", n, len(want))
	}

	// The same runs, killed.
	run, rv, stop := setup("killed")
	defer stop()
	rng := rand.New(rand.NewPCG(1, 2))
	// Where runs are killed, weighted: a point a run does not reach (no
	// report to send) lets it complete.
	points := []string{"read", "read", "planned", "state-temp:1", "state-renamed:1", "saved", "sent", "sent", "sent", "state-temp:2", "state-temp:2", "state-renamed:2", "random"}
	// Until a run has saved the state, the segment is still to be read:
	// the first kills of a segment fall before that.
	before := []string{"read", "read", "read", "planned", "state-temp:1", "state-renamed:1", "random"}
	kills := map[string]int{}
	// firstBy maps a key to the kill point of the run that first
	// delivered it ("" when that run completed).
	firstBy := map[string]string{}
	resendsBy := map[string]int{}
	from = 0
	totalKills := 0
	for seg, to := range cuts {
		appendFile(t, run.log, data[from:to])
		segLen := to - from
		from = to
		for segKills := 0; ; {
			pause := ""
			category := "completed"
			if segKills < 8 {
				category = points[rng.IntN(len(points))]
				if segKills < 2 {
					category = before[rng.IntN(len(before))]
				}
				switch category {
				case "read":
					pause = fmt.Sprintf("read:%d", 1+rng.IntN(segLen))
				case "sent":
					pause = fmt.Sprintf("sent:%d", 1+rng.IntN(2))
				case "random":
					pause = fmt.Sprintf("random:%dms", rng.Int64N(int64(2*perRun/time.Millisecond)+1))
				default:
					pause = category
				}
			}
			before := rv.count()
			killed := run.run(pause)
			got := rv.since(before)
			if !killed {
				category = "completed"
			} else {
				kills[category]++
				totalKills++
				segKills++
			}
			for _, d := range got {
				if prev, seen := firstBy[d.key]; seen {
					if prev == "completed" {
						t.Errorf("segment %d: %s sent again after a run that completed had sent it", seg, d.key)
					}
					resendsBy[prev]++
					continue
				}
				firstBy[d.key] = category
			}
			if !killed {
				break
			}
		}
	}
	all := rv.since(0)
	got := keySet(all)
	var lost, extra []string
	for k := range want {
		if !got[k] {
			lost = append(lost, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(lost)
	sort.Strings(extra)
	if len(lost) > 0 || len(extra) > 0 {
		t.Errorf("keys lost %v, keys no uninterrupted run sends %v", lost, extra)
	}
	// A key is one report: one incident and phase, whatever the run.
	byKey := map[string]string{}
	for _, d := range all {
		if strings.HasPrefix(d.key, "MISMATCH:") {
			t.Errorf("the body's key %s is not the header's", d.key)
		}
		what := d.incident + " " + d.phase
		if prev, ok := byKey[d.key]; ok && prev != what {
			t.Errorf("key %s named %q and %q", d.key, prev, what)
		}
		byKey[d.key] = what
	}
	news := map[string]int{}
	for k, what := range byKey {
		if strings.HasSuffix(what, " new") {
			news[strings.Fields(what)[0]]++
			if k != strings.Fields(what)[0] {
				t.Errorf("the new report of incident %s has key %s", what, k)
			}
		}
	}
	for inc, n := range news {
		if n > 1 {
			t.Errorf("incident %s reported as new under %d keys", inc, n)
		}
	}
	fileKeys := jsonLinesKeys(t, run.jsonLines)
	if strings.Join(fileKeys, ",") != strings.Join(jsonLinesKeys(t, ref.jsonLines), ",") {
		t.Errorf("the JSON-lines file differs from the reference's (each report once, in order):\n%v\n%v", fileKeys, jsonLinesKeys(t, ref.jsonLines))
	}
	resends := len(all) - len(got)
	allowed := map[string]bool{"sent": true, "state-temp:2": true, "state-renamed:2": true, "random": true}
	for by, n := range resendsBy {
		if !allowed[by] {
			t.Errorf("%d reports sent again after a kill at %s, before anything was sent", n, by)
		}
	}
	if totalKills < 50 {
		t.Errorf("%d kills, want at least 50", totalKills)
	}
	t.Logf("%d kills (%v), %d reports (keys) delivered, lost %d, %d resends (by the kill point of the run that first sent them: %v); %d requests in all",
		totalKills, kills, len(got), len(lost), resends, resendsBy, len(all))
}

func keySet(ds []delivery) map[string]bool {
	out := map[string]bool{}
	for _, d := range ds {
		out[d.key] = true
	}
	return out
}

func jsonLinesKeys(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var r struct {
			Key string `json:"idempotencyKey"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: line %q: %v", path, line, err)
		}
		keys = append(keys, r.Key)
	}
	return keys
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
