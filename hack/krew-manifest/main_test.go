package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	texttemplate "text/template"

	"sigs.k8s.io/yaml"
)

// writeArchive writes a .tar.gz or .zip holding the named files and
// returns its sha256.
func writeArchive(t *testing.T, p string, names ...string) string {
	t.Helper()
	var buf bytes.Buffer
	if strings.HasSuffix(p, ".zip") {
		zw := zip.NewWriter(&buf)
		for _, n := range names {
			w, err := zw.Create(n)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(w, n)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		for _, n := range names {
			if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(n)), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(tw, n)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := gz.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

// unixFiles and windowsFiles are what the release's archives hold.
var (
	unixFiles    = []string{"LICENSE", "README.md", "kubectl-audit", "kubectl_complete-audit"}
	windowsFiles = []string{"LICENSE", "README.md", "kubectl-audit.exe", "kubectl_complete-audit.cmd"}
)

// fakeRelease writes dist/metadata.json, dist/artifacts.json and the archives of
// the given platforms ("os/arch" → files), as GoReleaser does, and returns
// dist and each archive's sha256 by platform.
func fakeRelease(t *testing.T, version string, archives map[string][]string) (string, map[string]string) {
	t.Helper()
	dist := filepath.Join(t.TempDir(), "dist")
	if err := os.MkdirAll(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	arts := []artifact{{Name: "checksums.txt", Path: "dist/checksums.txt", Type: "Checksum"}}
	for key, files := range archives {
		goos, goarch, _ := strings.Cut(key, "/")
		name := "kubectl-audit_" + version + "_" + goos + "_" + goarch + ".tar.gz"
		if goos == "windows" {
			name = strings.TrimSuffix(name, ".tar.gz") + ".zip"
		}
		sums[key] = writeArchive(t, filepath.Join(dist, name), files...)
		arts = append(arts,
			artifact{Name: name, Path: "dist/" + name, Goos: goos, Goarch: goarch, Type: "Archive"},
			artifact{Name: "kubectl-audit", Path: "dist/x/kubectl-audit", Goos: goos, Goarch: goarch, Type: "Binary"})
	}
	writeJSON(t, filepath.Join(dist, "artifacts.json"), arts)
	writeJSON(t, filepath.Join(dist, "metadata.json"), map[string]string{"project_name": "kubectl-audit", "tag": "v" + version, "version": version})
	return dist, sums
}

func writeJSON(t *testing.T, p string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

const template = "../../krew/audit.yaml"

var allPlatforms = map[string][]string{
	"linux/amd64": unixFiles, "linux/arm64": unixFiles, "darwin/amd64": unixFiles, "darwin/arm64": unixFiles,
	"windows/amd64": windowsFiles,
}

// TestShippedTemplate renders the repository's krew/audit.yaml for a full
// release and checks what krew will read: the version, each platform's uri
// and sha256, and everything else as the template has it.
func TestShippedTemplate(t *testing.T) {
	dist, sums := fakeRelease(t, "1.2.3", allPlatforms)
	out := filepath.Join(t.TempDir(), "audit.yaml")
	var log bytes.Buffer
	if err := run(template, dist, out, false, &log); err != nil {
		t.Fatal(err)
	}
	tmpl, err := readTemplate(template)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got plugin
	if err := yaml.UnmarshalStrict(data, &got); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if got.Spec.Version != "v1.2.3" {
		t.Errorf("version %q, want v1.2.3", got.Spec.Version)
	}
	if got.Spec.Description != tmpl.Spec.Description || got.Spec.ShortDescription != tmpl.Spec.ShortDescription || got.Spec.Caveats != tmpl.Spec.Caveats {
		t.Errorf("descriptions or caveats differ from the template's")
	}
	if len(got.Spec.Platforms) != 5 {
		t.Fatalf("%d platforms, want 5", len(got.Spec.Platforms))
	}
	for i, p := range got.Spec.Platforms {
		key, _ := platformKey(p)
		ext := ".tar.gz"
		if strings.HasPrefix(key, "windows/") {
			ext = ".zip"
		}
		wantURI := "https://github.com/kubectl-audit/kubectl-audit/releases/download/v1.2.3/kubectl-audit_1.2.3_" + strings.ReplaceAll(key, "/", "_") + ext
		if p.URI != wantURI || p.Sha256 != sums[key] {
			t.Errorf("%s: uri %s sha256 %s, want %s %s", key, p.URI, p.Sha256, wantURI, sums[key])
		}
		want := tmpl.Spec.Platforms[i]
		if p.Bin != want.Bin || len(p.Files) != len(want.Files) {
			t.Errorf("%s: bin or files differ from the template's", key)
		}
		completes := false
		for _, f := range p.Files {
			completes = completes || strings.HasPrefix(f.From, "kubectl_complete-audit")
		}
		if !completes {
			t.Errorf("%s: kubectl_complete-audit is not installed: %v", key, p.Files)
		}
	}
	if !strings.HasPrefix(string(data), "# Written by hack/krew-manifest from ../../krew/audit.yaml for audit v1.2.3") {
		t.Errorf("no header: %.100s", data)
	}
}

func TestRunErrors(t *testing.T) {
	only := func(keys ...string) map[string][]string {
		m := map[string][]string{}
		for _, k := range keys {
			m[k] = allPlatforms[k]
		}
		return m
	}
	tests := []struct {
		name     string
		archives map[string][]string
		partial  bool
		wantErr  string // "" for success
		wantLog  string
	}{
		{"all five", allPlatforms, false, "", "(5 platforms)"},
		{"a snapshot of linux/amd64 needs -partial", only("linux/amd64"), false, "no archive in", ""},
		{"-partial leaves the others out", only("linux/amd64"), true, "", "no archive for linux/arm64, darwin/amd64, darwin/arm64, windows/amd64: left out"},
		{"an archive without kubectl_complete-audit", map[string][]string{"linux/amd64": {"LICENSE", "kubectl-audit"}}, true, `files: "kubectl_complete-audit" is not in the archive`, ""},
		{"an archive without LICENSE", map[string][]string{"windows/amd64": {"kubectl-audit.exe", "kubectl_complete-audit.cmd"}}, true, `files: "LICENSE" is not in the archive`, ""},
		{"an archive of a platform the template lacks", map[string][]string{"linux/amd64": unixFiles, "freebsd/amd64": unixFiles}, true, "archives for freebsd/amd64 have no platform", ""},
		{"no archive at all", map[string][]string{}, true, "no platform of the template has an archive", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dist, _ := fakeRelease(t, "0.0.0-SNAPSHOT-abc1234", tt.archives)
			var log bytes.Buffer
			err := run(template, dist, "", tt.partial, &log)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(dist, "krew", "audit.yaml")); err != nil {
					t.Error(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", log.String(), tt.wantLog)
			}
		})
	}
}

func TestTemplateErrors(t *testing.T) {
	valid, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, wantErr string
	}{
		{"an unknown field", "  homepage:", "  homepages:", `unknown field "homepages"`},
		{"a glob in files", "        - from: LICENSE\n", "        - from: \"*\"\n", `files: "*" is a glob`},
		{"bin not copied", "      bin: kubectl-audit\n", "      bin: kubectl-other\n", `bin "kubectl-other" is not copied`},
		{"a uri that is no release asset", "https://github.com/kubectl-audit/kubectl-audit/releases/download/v0.1.0/kubectl-audit_0.1.0_linux_amd64.tar.gz", "https://example.com/kubectl-audit_0.1.0_linux_amd64.tar.gz", "is not https://.../releases/download/TAG/ARCHIVE"},
		{"a selector without arch", "          os: linux\n          arch: amd64\n", "          os: linux\n", "the selector must be matchLabels os and arch"},
		{"two platforms for one os/arch", "          arch: arm64\n", "          arch: amd64\n", "two platforms of the template select linux/amd64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(valid), tt.old) {
				t.Fatalf("the template has no %q", tt.old)
			}
			p := filepath.Join(t.TempDir(), "audit.yaml")
			if err := os.WriteFile(p, []byte(strings.Replace(string(valid), tt.old, tt.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			dist, _ := fakeRelease(t, "1.2.3", allPlatforms)
			err := run(p, dist, "", false, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestReleaseBotTemplate renders krew-release-bot's template as the bot does
// (text/template; addURIAndSha renders the asset URL with TagName and Version
// and takes the asset's sha256, here of the archive in dist) and checks that
// it gives the manifest the release writes.
func TestReleaseBotTemplate(t *testing.T) {
	dist, _ := fakeRelease(t, "1.2.3", allPlatforms)
	want := filepath.Join(t.TempDir(), "audit.yaml")
	if err := run(template, dist, want, false, io.Discard); err != nil {
		t.Fatal(err)
	}
	var bot bytes.Buffer
	if err := runBotTemplate(template, "", &bot); err != nil {
		t.Fatal(err)
	}
	type values struct{ TagName, Version string }
	funcs := texttemplate.FuncMap{"addURIAndSha": func(url, tag string) (string, error) {
		var u strings.Builder
		if err := texttemplate.Must(texttemplate.New("url").Parse(url)).Execute(&u, values{tag, strings.TrimPrefix(tag, "v")}); err != nil {
			return "", err
		}
		asset := u.String()
		sum, _, err := readArchive(filepath.Join(dist, asset[strings.LastIndex(asset, "/")+1:]))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("uri: %s\n    sha256: %s", asset, sum), nil
	}}
	tmpl, err := texttemplate.New("bot").Funcs(funcs).Parse(bot.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, bot.String())
	}
	var rendered bytes.Buffer
	if err := tmpl.Execute(&rendered, values{TagName: "v1.2.3"}); err != nil {
		t.Fatal(err)
	}
	var got, wantPlugin plugin
	if err := yaml.UnmarshalStrict(rendered.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, rendered.String())
	}
	data, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &wantPlugin); err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(wantPlugin)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("the bot's manifest\n%s\nis not the release's\n%s", gotJSON, wantJSON)
	}
}
