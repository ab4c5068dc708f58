package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
	"github.com/kubectl-audit/kubectl-audit/e2e/scenarios"
)

// One control plane and one scenario run serve every test of the package
// that only reads what happened: starting it takes ~10 s and the scenarios
// ~45 s, so sharing keeps a warm suite near a minute.
var shared struct {
	once sync.Once
	dir  string
	cp   *controlplane.ControlPlane
	gt   scenarios.GroundTruth
	err  error

	binOnce sync.Once
	bin     string
	binErr  error
	binOut  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cp != nil {
		_ = shared.cp.Stop()
		if dir := os.Getenv("KUBECTL_AUDIT_E2E_ARTIFACTS"); dir != "" {
			dst := filepath.Join(dir, "shared")
			if err := os.MkdirAll(dst, 0o755); err == nil {
				for _, src := range []string{shared.cp.AuditLogPath, shared.cp.APIServerLogPath, shared.cp.ControllerManagerLogPath, shared.cp.EtcdLogPath} {
					if b, err := os.ReadFile(src); err == nil {
						_ = os.WriteFile(filepath.Join(dst, filepath.Base(src)), b, 0o644)
					}
				}
			}
		}
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// liveRun returns the shared control plane after every scenario has run.
func liveRun(t *testing.T) (*controlplane.ControlPlane, scenarios.GroundTruth) {
	t.Helper()
	if v := os.Getenv(controlplane.SkipEnv); v != "" && v != "0" {
		t.Skipf("%s=%s: skipping the end-to-end test that needs a real control plane", controlplane.SkipEnv, v)
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
		defer cancel()
		shared.dir, shared.err = os.MkdirTemp("", "kubectl-audit-e2e")
		if shared.err != nil {
			return
		}
		shared.cp, shared.err = controlplane.New(ctx, controlplane.Options{Dir: shared.dir, Log: os.Stderr})
		if shared.err != nil {
			return
		}
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer scancel()
		shared.gt, shared.err = scenarios.RunAll(sctx, shared.cp, nil)
	})
	if shared.err != nil {
		t.Fatalf("shared control plane: %v", shared.err)
	}
	return shared.cp, shared.gt
}

// pluginBinary builds the kubectl-audit plugin from the parent module once.
func pluginBinary(t *testing.T) string {
	t.Helper()
	shared.binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kubectl-audit-bin")
		if err != nil {
			shared.binErr = err
			return
		}
		shared.bin = filepath.Join(dir, "kubectl-audit")
		cmd := exec.Command("go", "build", "-o", shared.bin, "./cmd/kubectl-audit")
		cmd.Dir = ".."
		shared.binOut, shared.binErr = cmd.CombinedOutput()
	})
	if shared.binErr != nil {
		t.Fatalf("build kubectl-audit: %v\n%s", shared.binErr, shared.binOut)
	}
	return shared.bin
}

// plugin runs the plugin and returns stdout, stderr and its exit code.
func plugin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(pluginBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kubectl-audit %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}
