package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestProfileFlags: --profile writes a profile pprof can read, for a
// command that succeeds and for one that fails; a name pprof does not
// know is an error.
func TestProfileFlags(t *testing.T) {
	log := filepath.Join("testdata", "audit.log")
	tests := []struct {
		name    string
		args    []string
		wantErr string
		noFile  bool
	}{
		{name: "cpu", args: []string{"top", "-f", log, "--profile", "cpu"}},
		{name: "heap", args: []string{"top", "-f", log, "--profile", "heap"}},
		{name: "allocs", args: []string{"detect", "-f", log, "--profile", "allocs"}},
		{name: "a failing command still writes it", args: []string{"top", "-f", "/nonexistent/audit.log", "--profile", "cpu"}, wantErr: "nonexistent"},
		{name: "unknown profile", args: []string{"top", "-f", log, "--profile", "bogus"}, wantErr: `--profile "bogus"`, noFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "p.pprof")
			var stdout, stderr bytes.Buffer
			root := NewCmdAudit(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr})
			root.SetArgs(append(tt.args, "--profile-output", out))
			err := root.Execute()
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			b, err := os.ReadFile(out)
			if tt.noFile {
				if err == nil {
					t.Fatal("profile written for an unknown name")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// pprof's format: a gzip'd protocol buffer.
			if len(b) < 20 || b[0] != 0x1f || b[1] != 0x8b {
				t.Fatalf("not a pprof profile: % x", b[:min(len(b), 8)])
			}
		})
	}
}
