package cmd

import (
	"os"
	"testing"
)

// TestMain keeps the command tests away from any cluster of the machine they
// run on: linking then says "not linked: no cluster", deterministically.
func TestMain(m *testing.M) {
	_ = os.Setenv("KUBECONFIG", "/nonexistent/kubectl-audit-test-kubeconfig")
	_ = os.Unsetenv("KUBERNETES_SERVICE_HOST")
	os.Exit(m.Run())
}
