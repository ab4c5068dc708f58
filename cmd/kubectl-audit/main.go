// Command kubectl-audit is the kubectl plugin "kubectl audit".
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	// Auth plugins (exec, oidc) for kubeconfigs of managed clusters.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/kubectl-audit/kubectl-audit/cmd"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	root := cmd.NewCmdAudit(streams)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(cmd.ExitCode(err))
	}
}
