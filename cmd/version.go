package cmd

import (
	"fmt"
	"regexp"
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
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Version returns the build's version: the ldflags stamp of a release
// build; else the module version of `go install ...@vX.Y.Z`; else "dev", with
// the VCS revision, time and modified flag when Go recorded them (a build in
// a git checkout, with -buildvcs).
func Version() VersionInfo {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(version, commit, date, bi)
}

// versionOf is Version for given ldflags stamps and build info (nil when
// the binary has none).
func versionOf(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo) VersionInfo {
	v := VersionInfo{Version: ldVersion, Commit: ldCommit, Date: ldDate, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if v.Version == "" && isRelease(bi.Main.Version) {
			v.Version = bi.Main.Version
		}
		stamped := v.Commit != ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if !stamped {
					v.Commit = s.Value
				}
			case "vcs.time":
				if v.Date == "" {
					v.Date = s.Value
				}
			case "vcs.modified":
				v.Modified = !stamped && s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	return v
}

var (
	// semver is a release or pre-release version, without build metadata
	// (Go marks a build of a modified tree "+dirty").
	semver = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)
	// pseudoVersion is golang.org/x/mod/module's pattern of a pseudo-version,
	// which Go stamps on a build of a commit that is not a tag.
	pseudoVersion = regexp.MustCompile(`^v[0-9]+\.(0\.0-|[0-9]+\.[0-9]+-([^+]*\.)?0\.)[0-9]{14}-[A-Za-z0-9]+(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
)

// isRelease tells whether a module version is that of a tag: not
// "(devel)", not a pseudo-version, not a modified tree.
func isRelease(v string) bool {
	return semver.MatchString(v) && !pseudoVersion.MatchString(v)
}

// versionOutput is version's -o: none (a line of text) or json.
var versionOutput = outputFormats{allowed: []string{"json"}, note: "default: one line of text", none: true}

// NewCmdVersion builds "kubectl audit version".
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl audit",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := versionOutput.Validate(output); err != nil {
				return err
			}
			v := Version()
			if output == "json" {
				return writeData(streams.Out, output, v)
			}
			modified := ""
			if v.Modified {
				modified = ", modified"
			}
			fmt.Fprintf(streams.Out, "kubectl audit %s (commit %s%s, %s, %s)\n", v.Version, orNone(v.Commit), modified, v.GoVersion, v.Platform)
			return nil
		},
	}
	versionOutput.AddFlag(c.Flags(), &output)
	return c
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
