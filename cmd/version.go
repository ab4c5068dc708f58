package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Set by goreleaser: -X github.com/kubectl-audit/kubectl-audit/cmd.version=...
var (
	version = ""
	commit  = ""
	date    = ""
)

// VersionInfo is what `kubectl audit version` prints.
type VersionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Version returns the build's version: the ldflags stamp, else the module
// version from `go install ...@vX`, else the VCS revision.
func Version() VersionInfo {
	v := VersionInfo{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if v.Date == "" {
					v.Date = s.Value
				}
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	return v
}

// NewCmdVersion builds "kubectl audit version".
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl audit",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v := Version()
			switch output {
			case "":
				fmt.Fprintf(streams.Out, "kubectl audit %s (commit %s, %s, %s)\n", v.Version, orNone(v.Commit), v.GoVersion, v.Platform)
			case "json":
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			default:
				return errorf("--output must be json or empty, not %q", output)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", output, "json for machine-readable output")
	return c
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
