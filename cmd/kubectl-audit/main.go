// Command kubectl-audit is the kubectl plugin "kubectl audit".
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	// Auth plugins (exec, oidc) for kubeconfigs of managed clusters.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/kubectl-audit/kubectl-audit/cmd"
)

// memoryLimit is a soft limit for the Go heap: the reading path's live
// memory is a few tens of MB whatever the input size, and the limit makes
// the garbage collector keep the process's footprint flat instead of letting
// it double between collections. GOMEMLIMIT overrides it.
const memoryLimit = 100 << 20

func main() {
	releaseExecutablePages()
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	root := cmd.NewCmdAudit(streams)
	// The commands' Run methods take this context; a signal still ends the
	// process at once (a context would not reach a read blocked on a pipe
	// or a terminal, so it would take a second Ctrl-C to stop top -f -).
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(cmd.ExitCode(err))
	}
}
