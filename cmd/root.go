package cmd

import (
	"errors"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/kubectl-audit/kubectl-audit/sources/nodes"
)

// Exit codes, documented in the README.
const (
	// ExitOK: success.
	ExitOK = 0
	// ExitError: bad flags, unreadable input, no audit events, or any other error.
	ExitError = 1
	// ExitFindings: detect found something at or above --fail-on.
	ExitFindings = 2
	// ExitSkipped: --strict, and some input lines were skipped.
	ExitSkipped = 3
)

// ExitCodeError carries a specific exit code out of a command.
type ExitCodeError struct {
	Code int
	Err  error
}

func (e *ExitCodeError) Error() string { return e.Err.Error() }
func (e *ExitCodeError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by Execute to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ec *ExitCodeError
	if errors.As(err, &ec) {
		return ec.Code
	}
	return ExitError
}

// NewCmdAudit builds the root command, "kubectl audit".
func NewCmdAudit(streams genericiooptions.IOStreams) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true)
	// Every request of ours says who makes it, so that users can leave them
	// out of their own analyses (userAgent startsWith "kubectl-audit/").
	configFlags.WrapConfigFn = func(c *rest.Config) *rest.Config {
		c.UserAgent = nodes.UserAgent(Version().Version)
		return c
	}
	root := &cobra.Command{
		Use:   "kubectl-audit",
		Short: "Make Kubernetes API-server audit logs useful",
		Long: `kubectl audit reads Kubernetes API-server audit logs (files, directories,
rotated and compressed sets, stdin) and answers: who is calling the API server
(top), what happened to an object and why it was allowed (why), and what looks
wrong (detect).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl audit",
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	configFlags.AddFlags(root.PersistentFlags())
	prof := &profileFlags{}
	prof.addFlags(root.PersistentFlags())
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return prof.start() }
	// A finalizer, not PersistentPostRunE, which a failing command (or
	// detect's exit code 2) would skip.
	finalizeOnce.Do(func() { cobra.OnFinalize(stopActiveProfile) })

	root.AddCommand(NewCmdVersion(streams))
	root.AddCommand(NewCmdTop(streams, configFlags))
	root.AddCommand(NewCmdDetect(streams, configFlags))
	root.AddCommand(NewCmdRules(streams))
	root.AddCommand(NewCmdWhy(streams, configFlags))
	root.AddCommand(NewCmdInstall(streams, configFlags))
	root.AddCommand(NewCmdUninstall(streams, configFlags))
	root.AddCommand(NewCmdPolicy(streams, configFlags))
	registerCompletions(root, configFlags)
	return root
}
