// Package binaries builds and caches the control-plane binaries the e2e
// tests run: kube-apiserver and kube-controller-manager from
// k8s.io/kubernetes, and etcd from go.etcd.io/etcd/server/v3; and kubectl
// from the same k8s.io/kubernetes, for the release test (hack/release-test.sh)
// that installs the plugin with krew and runs it as `kubectl audit`.
//
// A cold build takes 15-25 minutes on two cores, so each binary is cached on
// disk under a directory keyed by its version and built only when missing.
package binaries

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Versions of the binaries. Changing one means a new cache directory, so a
// stale binary is never picked up.
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.7.3"
)

// Set is the paths of one set of cached binaries.
type Set struct {
	KubeAPIServer         string
	KubeControllerManager string
	Etcd                  string
}

// CacheDir is $KUBECTL_AUDIT_E2E_CACHE, or ~/.cache/kubectl-audit-e2e.
func CacheDir() (string, error) {
	if dir := os.Getenv("KUBECTL_AUDIT_E2E_CACHE"); dir != "" {
		return dir, nil
	}
	home, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set KUBECTL_AUDIT_E2E_CACHE: %w", err)
	}
	return filepath.Join(home, "kubectl-audit-e2e"), nil
}

// Paths returns where the binaries are cached, whether or not they exist.
func Paths() (Set, error) {
	cache, err := CacheDir()
	if err != nil {
		return Set{}, err
	}
	k8s := filepath.Join(cache, "k8s-"+KubernetesVersion)
	return Set{
		KubeAPIServer:         filepath.Join(k8s, "kube-apiserver"),
		KubeControllerManager: filepath.Join(k8s, "kube-controller-manager"),
		Etcd:                  filepath.Join(cache, "etcd-"+EtcdVersion, "etcd"),
	}, nil
}

// Missing lists the binaries of s that are not in the cache.
func (s Set) Missing() []string {
	var missing []string
	for _, p := range []string{s.Etcd, s.KubeAPIServer, s.KubeControllerManager} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	return missing
}

// target is one binary to build: a main package, the module directory to
// build it from (relative to the e2e module root) and its linker flags.
type target struct {
	dst, moduleDir, pkg, ldflags string
}

func targets(s Set) []target {
	return []target{
		{s.Etcd, filepath.Join("tools", "etcd"), "go.etcd.io/etcd/server/v3", "-s -w"},
		{s.KubeAPIServer, ".", "k8s.io/kubernetes/cmd/kube-apiserver", versionLDFlags()},
		{s.KubeControllerManager, ".", "k8s.io/kubernetes/cmd/kube-controller-manager", versionLDFlags()},
	}
}

// versionLDFlags stamps the version the way the Kubernetes release build
// does, so user agents read "kube-controller-manager/v1.37.2 ..." as on a
// real cluster instead of "v0.0.0-master+$Format:%H$".
func versionLDFlags() string {
	const commit = "0000000000000000000000000000000000000000"
	vars := [][2]string{
		{"gitVersion", KubernetesVersion},
		{"gitMajor", "1"},
		{"gitMinor", "37"},
		{"gitCommit", commit},
		{"gitTreeState", "clean"},
		{"buildDate", "2026-01-01T00:00:00Z"},
	}
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		for _, v := range vars {
			flags = append(flags, "-X", pkg+"."+v[0]+"="+v[1])
		}
	}
	return strings.Join(flags, " ")
}

// Ensure builds every missing binary and returns the paths. Progress goes
// to log. Builds run one at a time: the machines this runs on are small.
func Ensure(ctx context.Context, log io.Writer) (Set, error) {
	s, err := Paths()
	if err != nil {
		return Set{}, err
	}
	if len(s.Missing()) == 0 {
		return s, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return Set{}, err
	}
	for _, t := range targets(s) {
		if _, err := os.Stat(t.dst); err == nil {
			continue
		}
		if err := build(ctx, root, t, log); err != nil {
			return Set{}, err
		}
	}
	return s, nil
}

// KubectlPath returns where kubectl (k8s.io/kubernetes/cmd/kubectl at
// KubernetesVersion) is cached, whether or not it exists.
func KubectlPath() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "k8s-"+KubernetesVersion, "kubectl"), nil
}

// EnsureKubectl builds kubectl into the cache when it is missing and returns
// its path. Ensure does not build it: the e2e tests do not run kubectl, only
// the release test does.
func EnsureKubectl(ctx context.Context, log io.Writer) (string, error) {
	dst, err := KubectlPath()
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(dst); err == nil && fi.Mode()&0o111 != 0 {
		return dst, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	if err := build(ctx, root, target{dst, ".", "k8s.io/kubernetes/cmd/kubectl", versionLDFlags()}, log); err != nil {
		return "", err
	}
	return dst, nil
}

// build writes to a temporary file and renames it into place, so an
// interrupted build never leaves a half-written binary in the cache.
func build(ctx context.Context, root string, t target, log io.Writer) error {
	if err := os.MkdirAll(filepath.Dir(t.dst), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp.%d", t.dst, os.Getpid())
	defer os.Remove(tmp)
	start := time.Now()
	fmt.Fprintf(log, "building %s -> %s (a cold build takes minutes)\n", t.pkg, t.dst)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", t.ldflags, "-o", tmp, t.pkg)
	cmd.Dir = filepath.Join(root, t.moduleDir)
	// -mod=mod lets a fresh checkout resolve missing go.sum lines from the
	// module proxy; CGO is not needed by any of the binaries.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", t.pkg, err)
	}
	if err := os.Rename(tmp, t.dst); err != nil {
		return err
	}
	fmt.Fprintf(log, "built %s in %s\n", t.dst, time.Since(start).Round(time.Second))
	return nil
}

// moduleRoot finds the e2e module's directory, which holds the go.mod that
// pins k8s.io/kubernetes, from wherever the caller runs (a test runs in its
// package directory, go run in the caller's).
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run from inside the e2e module (github.com/kubectl-audit/kubectl-audit/e2e)")
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "tools", "etcd", "go.mod")); err != nil {
		return "", fmt.Errorf("%s is not the e2e module: %w", root, err)
	}
	return root, nil
}
