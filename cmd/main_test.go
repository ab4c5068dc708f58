package cmd

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain keeps the command tests away from any cluster of the machine they
// run on: linking then says "not linked: no cluster", deterministically. It
// removes the plugin binary builtPlugin left behind.
func TestMain(m *testing.M) {
	_ = os.Setenv("KUBECONFIG", "/nonexistent/kubectl-audit-test-kubeconfig")
	_ = os.Unsetenv("KUBERNETES_SERVICE_HOST")
	code := m.Run()
	if pluginBin.path != "" {
		_ = os.RemoveAll(filepath.Dir(pluginBin.path))
	}
	os.Exit(code)
}
