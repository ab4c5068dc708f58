package cmd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/schedule"
)

func TestScheduleFlags(t *testing.T) {
	state := "file:" + filepath.Join(t.TempDir(), "state.json")
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"--notify without --state", []string{"--notify", "events"}, "--notify needs --state"},
		{"--report without --state", []string{"--report", "ongoing"}, "--report needs --state"},
		{"a bad --report", []string{"--state", state, "--report", "always"}, "--report must be new or ongoing"},
		{"SARIF goes to a sink", []string{"--state", state, "-o", "sarif"}, "--notify file=PATH.sarif"},
		{"a bad store", []string{"--state", "etcd:x"}, "want file:PATH or configmap:NAMESPACE/NAME"},
		{"a bad sink", []string{"--state", state, "--notify", "pager=x"}, "want webhook=URL, slack=URL, events or file=PATH"},
		{"a sink twice", []string{"--state", state, "--notify", "file=a.jsonl", "--notify", "file=a.jsonl"}, "given twice"},
		{"a secret variable not set", []string{"--state", state, "--webhook-secret-env", "KUBECTL_AUDIT_TEST_UNSET"}, "the variable is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, "", append([]string{"detect", "-f", exampleLog, "-q"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
		})
	}
	t.Run("stdin has no position", func(t *testing.T) {
		_, _, err := runCmd(t, "", "detect", "-f", "-", "--state", state, "-q")
		if err == nil || !strings.Contains(err.Error(), "standard input cannot be read from where the last run stopped") {
			t.Errorf("err %v", err)
		}
	})
}

// TestScheduledOutput: a scheduled run prints its reports, and the next
// run over the same log says there is nothing new.
func TestScheduledOutput(t *testing.T) {
	state := "file:" + filepath.Join(t.TempDir(), "state.json")
	out, errOut, err := runCmd(t, "", "detect", "-f", exampleLog, "--state", state, "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var first scheduledOutput
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatal(err)
	}
	if len(first.Reports) == 0 || !strings.Contains(errOut, "new, 0 ongoing") {
		t.Fatalf("first run: %d reports\n%s", len(first.Reports), errOut)
	}
	for _, r := range first.Reports {
		if r.Phase != "new" && r.Phase != "ended" || r.Key == "" || r.Finding.Fingerprint != r.Incident {
			t.Errorf("report %+v", r)
		}
	}
	out, errOut, err = runCmd(t, "", "detect", "-f", exampleLog, "--state", state)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if strings.TrimSpace(out) != "Nothing new." || !strings.Contains(errOut, "1 inputs with nothing new") {
		t.Errorf("second run:\n%s\n%s", out, errOut)
	}
}

// TestTwoRunsAtOnce: a run started while another holds the state says so
// and exits 0, reading and sending nothing.
func TestTwoRunsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary")
	}
	bin := builtPlugin(t)
	dir := t.TempDir()
	var mu sync.Mutex
	posts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); posts++; mu.Unlock() }))
	defer srv.Close()
	args := []string{"detect", "-f", exampleLog, "--state", "file:" + filepath.Join(dir, "state.json"), "--no-link", "--notify", "webhook=" + srv.URL}
	first := exec.Command(bin, args...)
	first.Env = append(os.Environ(), schedule.PauseEnv+"=planned")
	stderr, err := first.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Process.Kill(); _ = first.Wait() }()
	paused := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "kubectl-audit: paused at planned") {
				paused <- true
			}
		}
	}()
	select {
	case <-paused:
	case <-time.After(60 * time.Second):
		t.Fatal("the first run did not pause")
	}
	second := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	second.Stdout, second.Stderr = &out, &errOut
	if err := second.Run(); err != nil {
		t.Fatalf("the second run: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "another run is active") || !strings.Contains(errOut.String(), "nothing read or sent") || out.Len() != 0 {
		t.Errorf("the second run said:\n%s%s", out.String(), errOut.String())
	}
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	mu.Lock()
	defer mu.Unlock()
	if posts != 0 {
		t.Errorf("%d reports sent while the first run was stopped before sending", posts)
	}
}
