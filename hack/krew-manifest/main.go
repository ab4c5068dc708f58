// Command krew-manifest writes the krew plugin manifest of a release,
// dist/krew/audit.yaml, from the template krew/audit.yaml and the archives
// GoReleaser made: the version, and each platform's uri and sha256. The
// template's descriptions, caveats, bin and files mappings are kept as they
// are, so krew/audit.yaml is the one source of them.
//
// Each platform of the template must have its archive in dist/ (-partial
// leaves out those that have none, for a snapshot of some targets only), and
// each archive one platform; every file the platform's bin and files name
// must be in its archive.
//
// With -release-bot-template it writes instead the same manifest as a
// template of krew-release-bot (the GitHub Action that opens the krew-index
// pull request of each release): the version and each platform's uri and
// sha256 left to the bot's {{ .TagName }} and addURIAndSha.
//
//	goreleaser release --clean && go run ./hack/krew-manifest
//	go run ./hack/krew-manifest -release-bot-template -o .krew.yaml
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// plugin is the part of krew's v1alpha2 Plugin that the template uses.
// Unknown fields are an error (strict unmarshalling), so nothing in the
// template is dropped on the way to the release's manifest.
type plugin struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   metadata `json:"metadata"`
	Spec       spec     `json:"spec"`
}

type metadata struct {
	Name string `json:"name"`
}

type spec struct {
	Version          string     `json:"version"`
	Homepage         string     `json:"homepage,omitempty"`
	ShortDescription string     `json:"shortDescription"`
	Description      string     `json:"description,omitempty"`
	Caveats          string     `json:"caveats,omitempty"`
	Platforms        []platform `json:"platforms"`
}

type platform struct {
	Selector selector `json:"selector"`
	URI      string   `json:"uri"`
	Sha256   string   `json:"sha256"`
	Bin      string   `json:"bin"`
	Files    []fileOp `json:"files"`
}

type selector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type fileOp struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// release is what GoReleaser's dist/metadata.json says of the release.
type release struct {
	Tag     string `json:"tag"`
	Version string `json:"version"`
}

// artifact is one entry of GoReleaser's dist/artifacts.json.
type artifact struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Goos   string `json:"goos"`
	Goarch string `json:"goarch"`
	Type   string `json:"type"`
}

func main() {
	template := flag.String("template", "krew/audit.yaml", "the manifest template")
	dist := flag.String("dist", "dist", "GoReleaser's output directory")
	out := flag.String("o", "", "where to write the manifest (default DIST/krew/NAME.yaml)")
	partial := flag.Bool("partial", false, "leave out the template's platforms that have no archive (snapshots of some targets)")
	botTemplate := flag.Bool("release-bot-template", false, "write krew-release-bot's template of the manifest to -o (default stdout), not a release's manifest")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("no arguments expected, got %q", flag.Args()))
	}
	var err error
	if *botTemplate {
		err = runBotTemplate(*template, *out, os.Stdout)
	} else {
		err = run(*template, *dist, *out, *partial, os.Stderr)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "krew-manifest:", err)
	os.Exit(1)
}

func run(templatePath, dist, out string, partial bool, log io.Writer) error {
	tmpl, err := readTemplate(templatePath)
	if err != nil {
		return err
	}
	var rel release
	if err := readJSON(filepath.Join(dist, "metadata.json"), &rel); err != nil {
		return err
	}
	var arts []artifact
	if err := readJSON(filepath.Join(dist, "artifacts.json"), &arts); err != nil {
		return err
	}
	m, skipped, err := render(tmpl, rel, archives(arts, dist))
	if err != nil {
		return err
	}
	if len(skipped) > 0 {
		if !partial {
			return fmt.Errorf("no archive in %s for %s (-partial leaves them out)", dist, strings.Join(skipped, ", "))
		}
		fmt.Fprintf(log, "krew-manifest: no archive for %s: left out (-partial)\n", strings.Join(skipped, ", "))
	}
	data, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(dist, "krew", m.Metadata.Name+".yaml")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	header := fmt.Sprintf("# Written by hack/krew-manifest from %s for %s %s; do not edit.\n", filepath.ToSlash(templatePath), m.Metadata.Name, m.Spec.Version)
	if err := os.WriteFile(out, append([]byte(header), data...), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(log, "krew-manifest: wrote %s (%d platforms)\n", out, len(m.Spec.Platforms))
	return nil
}

// runBotTemplate writes the template as krew-release-bot's, to out or, when
// out is "", to stdout.
func runBotTemplate(templatePath, out string, stdout io.Writer) error {
	tmpl, err := readTemplate(templatePath)
	if err != nil {
		return err
	}
	data, err := botTemplate(tmpl)
	if err != nil {
		return err
	}
	header := fmt.Sprintf("# krew-release-bot's template, written by hack/krew-manifest from %s; do not edit.\n", filepath.ToSlash(templatePath))
	data = append([]byte(header), data...)
	if out == "" {
		_, err = stdout.Write(data)
		return err
	}
	return os.WriteFile(out, data, 0o644)
}

// botTemplate turns the template into krew-release-bot's: spec.version is
// the bot's {{ .TagName }}, and each platform's uri and sha256 its
// addURIAndSha of the release asset (the archive name with the version as
// the bot's {{ .Version }}, the tag without its "v").
func botTemplate(tmpl plugin) ([]byte, error) {
	version := strings.TrimPrefix(tmpl.Spec.Version, "v")
	m := tmpl
	m.Spec.Version = "{{ .TagName }}"
	m.Spec.Platforms = append([]platform(nil), tmpl.Spec.Platforms...)
	assets := make([]string, len(m.Spec.Platforms))
	for i, p := range m.Spec.Platforms {
		key, err := platformKey(p)
		if err != nil {
			return nil, err
		}
		base, err := releaseDownloads(p.URI)
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", key, err)
		}
		name := p.URI[strings.LastIndex(p.URI, "/")+1:]
		if version == "" || strings.Count(name, version) != 1 {
			return nil, fmt.Errorf("platform %s: the archive %q does not name the template's version %q once", key, name, version)
		}
		assets[i] = base + "/{{ .TagName }}/" + strings.Replace(name, version, "{{ .Version }}", 1)
		m.Spec.Platforms[i].URI = fmt.Sprintf("URI-%d", i)
		m.Spec.Platforms[i].Sha256 = fmt.Sprintf("SHA256-%d", i)
	}
	data, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := string(data)
	// The marshalled keys are sorted: a platform's sha256 comes right before
	// its uri, four spaces in, where the bot's addURIAndSha writes both.
	for i, asset := range assets {
		lines := fmt.Sprintf("    sha256: SHA256-%d\n    uri: URI-%d\n", i, i)
		if strings.Count(out, lines) != 1 {
			return nil, fmt.Errorf("internal error: no sha256 and uri lines of platform %d in\n%s", i, out)
		}
		out = strings.Replace(out, lines, fmt.Sprintf("    {{ addURIAndSha %q .TagName }}\n", asset), 1)
	}
	return []byte(out), nil
}

func readTemplate(p string) (plugin, error) {
	var m plugin
	data, err := os.ReadFile(p)
	if err != nil {
		return m, err
	}
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return m, fmt.Errorf("%s: %w", p, err)
	}
	if m.Metadata.Name == "" || len(m.Spec.Platforms) == 0 {
		return m, fmt.Errorf("%s: no metadata.name or no spec.platforms", p)
	}
	return m, nil
}

func readJSON(p string, v any) error {
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("%w (run goreleaser release first)", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// archive is one release archive, by os/arch.
type archive struct {
	name, path string
}

// archives keeps the archives of arts, keyed "os/arch". GoReleaser writes
// paths relative to where it ran, with dist as given to it; they are taken
// relative to dist's parent when they are not absolute.
func archives(arts []artifact, dist string) map[string]archive {
	byPlatform := map[string]archive{}
	for _, a := range arts {
		if a.Type != "Archive" {
			continue
		}
		p := a.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(dist, filepath.Base(p))
		}
		byPlatform[a.Goos+"/"+a.Goarch] = archive{name: a.Name, path: p}
	}
	return byPlatform
}

// render fills the template's version and each platform's uri and sha256.
// It returns the platforms that have no archive, left out of the manifest.
func render(tmpl plugin, rel release, byPlatform map[string]archive) (plugin, []string, error) {
	if rel.Version == "" || rel.Tag == "" {
		return plugin{}, nil, errors.New("metadata.json has no version or tag")
	}
	m := tmpl
	m.Spec.Version = "v" + strings.TrimPrefix(rel.Version, "v")
	m.Spec.Platforms = nil
	var skipped []string
	used := map[string]bool{}
	for _, p := range tmpl.Spec.Platforms {
		key, err := platformKey(p)
		if err != nil {
			return plugin{}, nil, err
		}
		if used[key] {
			return plugin{}, nil, fmt.Errorf("two platforms of the template select %s", key)
		}
		used[key] = true
		a, ok := byPlatform[key]
		if !ok {
			skipped = append(skipped, key)
			continue
		}
		base, err := releaseDownloads(p.URI)
		if err != nil {
			return plugin{}, nil, fmt.Errorf("platform %s: %w", key, err)
		}
		p.URI = base + "/" + rel.Tag + "/" + a.name
		sum, names, err := readArchive(a.path)
		if err != nil {
			return plugin{}, nil, err
		}
		p.Sha256 = sum
		if err := checkFiles(p, names); err != nil {
			return plugin{}, nil, fmt.Errorf("platform %s, %s: %w", key, a.name, err)
		}
		m.Spec.Platforms = append(m.Spec.Platforms, p)
	}
	var extra []string
	for key := range byPlatform {
		if !used[key] {
			extra = append(extra, key)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return plugin{}, nil, fmt.Errorf("archives for %s have no platform in the template", strings.Join(extra, ", "))
	}
	if len(m.Spec.Platforms) == 0 {
		return plugin{}, nil, errors.New("no platform of the template has an archive")
	}
	return m, skipped, nil
}

// releaseDownloads returns the ".../releases/download" part of a release
// asset's URL, ".../releases/download/TAG/ARCHIVE".
func releaseDownloads(uri string) (string, error) {
	base := uri
	for range 2 {
		i := strings.LastIndex(base, "/")
		if i < 0 {
			break
		}
		base = base[:i]
	}
	if !strings.HasPrefix(uri, "https://") || !strings.HasSuffix(base, "/releases/download") {
		return "", fmt.Errorf("uri %q is not https://.../releases/download/TAG/ARCHIVE", uri)
	}
	return base, nil
}

func platformKey(p platform) (string, error) {
	l := p.Selector.MatchLabels
	if len(l) != 2 || l["os"] == "" || l["arch"] == "" {
		return "", fmt.Errorf("platform %q: the selector must be matchLabels os and arch, got %v", p.URI, l)
	}
	return l["os"] + "/" + l["arch"], nil
}

// readArchive returns the sha256 of a .tar.gz or .zip archive and the names
// of the regular files in it.
func readArchive(p string) (string, map[string]bool, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(data)
	names := map[string]bool{}
	switch {
	case strings.HasSuffix(p, ".zip"):
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", p, err)
		}
		for _, f := range zr.File {
			if f.Mode().IsRegular() {
				names[path.Clean(f.Name)] = true
			}
		}
	case strings.HasSuffix(p, ".tar.gz"):
		gz, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", p, err)
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", nil, fmt.Errorf("%s: %w", p, err)
			}
			if h.Typeflag == tar.TypeReg {
				names[path.Clean(h.Name)] = true
			}
		}
	default:
		return "", nil, fmt.Errorf("%s: not a .tar.gz or .zip archive", p)
	}
	return hex.EncodeToString(sum[:]), names, nil
}

// checkFiles checks that every file the platform copies is in the archive,
// and that its bin is among them. Only plain names are supported: globs
// would hide a file missing from an archive.
func checkFiles(p platform, names map[string]bool) error {
	if len(p.Files) == 0 {
		return errors.New("no files mapping")
	}
	binCopied := false
	for _, f := range p.Files {
		if strings.ContainsAny(f.From, "*?[") {
			return fmt.Errorf("files: %q is a glob; name each file", f.From)
		}
		if !names[path.Clean(f.From)] {
			return fmt.Errorf("files: %q is not in the archive", f.From)
		}
		if path.Join(f.To, path.Base(f.From)) == path.Clean(p.Bin) {
			binCopied = true
		}
	}
	if !binCopied {
		return fmt.Errorf("bin %q is not copied by the files mapping", p.Bin)
	}
	return nil
}
