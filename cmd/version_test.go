package cmd

import (
	"bytes"
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestVersionOf(t *testing.T) {
	const rev = "d130c18e2b0a4f6f9d3c1f3b8a1e7c5d4b2a9f80"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-11-25T05:42:27Z"},
			{Key: "vcs.modified", Value: modified},
		}
	}
	build := func(mainVersion string, settings []debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Path: "github.com/kubectl-audit/kubectl-audit", Version: mainVersion}, Settings: settings}
	}
	tests := []struct {
		name                  string
		ldVersion, ldCommit   string
		ldDate                string
		bi                    *debug.BuildInfo
		version, commit, date string
		modified              bool
	}{
		{name: "goreleaser: the ldflags stamps win over the build info",
			ldVersion: "0.1.0", ldCommit: "0123456789abcdef0123456789abcdef01234567", ldDate: "2026-11-26T10:00:00Z",
			bi:      build("v0.0.0-20261125054227-d130c18e2b0a+dirty", vcs("true")),
			version: "0.1.0", commit: "0123456789abcdef0123456789abcdef01234567", date: "2026-11-26T10:00:00Z"},
		{name: "go install module@v0.2.0: the module version",
			bi: build("v0.2.0", nil), version: "v0.2.0"},
		{name: "go install module@v0.2.0-rc.1: a pre-release tag",
			bi: build("v0.2.0-rc.1", nil), version: "v0.2.0-rc.1"},
		{name: "go install ./cmd/kubectl-audit in a clean checkout: dev and the revision",
			bi: build("v0.0.0-20261125054227-d130c18e2b0a", vcs("false")), version: "dev", commit: rev, date: "2026-11-25T05:42:27Z"},
		{name: "a checkout with changes: dev, modified",
			bi: build("v0.0.0-20261125054227-d130c18e2b0a+dirty", vcs("true")), version: "dev", commit: rev, date: "2026-11-25T05:42:27Z", modified: true},
		{name: "a commit after a tag: its pseudo-version is not a release",
			bi: build("v0.1.1-0.20261125054227-d130c18e2b0a", vcs("false")), version: "dev", commit: rev, date: "2026-11-25T05:42:27Z"},
		{name: "a modified tree at a tag is not the release",
			bi: build("v0.1.0+dirty", vcs("true")), version: "dev", commit: rev, date: "2026-11-25T05:42:27Z", modified: true},
		{name: "-buildvcs=false: dev without a revision",
			bi: build("(devel)", nil), version: "dev"},
		{name: "no build info", version: "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := versionOf(tt.ldVersion, tt.ldCommit, tt.ldDate, tt.bi)
			if got.Version != tt.version || got.Commit != tt.commit || got.Date != tt.date || got.Modified != tt.modified {
				t.Errorf("got version %q commit %q date %q modified %v, want %q %q %q %v",
					got.Version, got.Commit, got.Date, got.Modified, tt.version, tt.commit, tt.date, tt.modified)
			}
			if got.GoVersion == "" || !strings.Contains(got.Platform, "/") {
				t.Errorf("no Go version or platform: %+v", got)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	tests := []struct {
		args  []string
		check func(t *testing.T, out string)
	}{
		{nil, func(t *testing.T, out string) {
			want := "kubectl audit " + Version().Version + " (commit "
			if !strings.HasPrefix(out, want) || !strings.HasSuffix(out, ")\n") {
				t.Errorf("got %q, want %q...", out, want)
			}
		}},
		{[]string{"-o", "json"}, func(t *testing.T, out string) {
			var v VersionInfo
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if v != Version() {
				t.Errorf("got %+v, want %+v", v, Version())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			c := NewCmdVersion(genericiooptions.IOStreams{Out: &out, ErrOut: &out})
			c.SetArgs(tt.args)
			if err := c.Execute(); err != nil {
				t.Fatal(err)
			}
			tt.check(t, out.String())
		})
	}
	var out bytes.Buffer
	c := NewCmdVersion(genericiooptions.IOStreams{Out: &out, ErrOut: &out})
	c.SetArgs([]string{"-o", "yaml"})
	c.SilenceErrors, c.SilenceUsage = true, true
	if err := c.Execute(); err == nil || !strings.Contains(err.Error(), `--output must be one of json; got "yaml"`) {
		t.Errorf("-o yaml: got %v, want the --output error", err)
	}
}
