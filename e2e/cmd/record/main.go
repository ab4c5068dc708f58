// Command record starts a real control plane, stages every scenario, and
// writes the audit log it recorded, gzipped, with the apiserver's own log
// and the ground truth, to a directory (examples/ in the repository):
//
//	cd e2e && go run ./cmd/record -o ../examples
//
// It builds the binaries first if they are not cached.
package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
	"github.com/kubectl-audit/kubectl-audit/e2e/scenarios"
)

func main() {
	out := flag.String("o", "../examples", "directory to write audit.log.gz, kube-apiserver.log.gz and ground-truth.json to")
	verbosity := flag.Int("v", 3, "kube-apiserver -v; 3 logs an \"HTTP\" line with the audit-ID of every request")
	keep := flag.Bool("keep", false, "keep the control plane's working directory (certificates, uncompressed logs)")
	flag.Parse()
	if err := run(*out, *verbosity, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
}

func run(out string, verbosity int, keep bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kubectl-audit-record-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	cp, err := controlplane.New(ctx, controlplane.Options{Dir: dir, Verbosity: verbosity, Log: os.Stderr})
	if err != nil {
		return err
	}
	start := time.Now()
	gt, err := scenarios.RunAll(ctx, cp, nil)
	// Stop before copying: the audit log is complete only once the
	// apiserver has exited (its long-running watches end then).
	if serr := cp.Stop(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "scenarios ran in %s\n", time.Since(start).Round(time.Second))
	for _, f := range []struct{ src, dst string }{
		{cp.AuditLogPath, "audit.log.gz"},
		{cp.APIServerLogPath, "kube-apiserver.log.gz"},
	} {
		if err := gzipFile(f.src, filepath.Join(out, f.dst)); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(gt, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "ground-truth.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(os.Stderr, "control plane files kept in %s\n", dir)
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", out)
	return nil
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	// A fixed name and no timestamp keep regenerated files comparable.
	zw.Name = filepath.Base(src)
	if _, err := io.Copy(zw, in); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
