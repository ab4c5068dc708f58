// Command audit-corpus writes a synthetic audit log of a given size with the
// shape of a real kube-apiserver's, for benchmarks:
//
//	go run ./cmd/audit-corpus -size 1GB -o /tmp/audit-1g.log
//	go run ./cmd/audit-corpus -size 1GB -compress gzip -o /tmp/audit-1g.log.gz
//	go run ./cmd/audit-corpus -size 3GB -apiservers 3 -o /tmp/ha/apiserver-%d.log
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/kubectl-audit/kubectl-audit/corpus"
)

func main() {
	size := flag.String("size", "100MB", "approximate uncompressed size (KB, MB, GB suffixes)")
	out := flag.String("o", "-", "output file (- for stdout)")
	compress := flag.String("compress", "none", "none, gzip or zstd")
	nodes := flag.Int("nodes", 500, "number of kubelets")
	seed := flag.Uint64("seed", 1, "random seed")
	start := flag.String("start", "2026-11-24T00:00:00Z", "time of the first event (RFC 3339)")
	rps := flag.Float64("rps", 1000, "events per second, which spaces the timestamps")
	apiservers := flag.Int("apiservers", 1, "split the cluster's log over this many kube-apiservers' logs (-o with %d, numbered from 1): each request's events go to one of them, as an HA control plane's load balancer sends them")
	shape := flag.String("shape", "", `"" for the project's original mix, or "large" for a large real cluster's shape (user.extra credential ids, µs latency annotations, 2,500 users, long watches still open at the end)`)
	flag.Parse()
	t, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit-corpus: -start:", err)
		os.Exit(2)
	}
	opts := corpus.Options{Nodes: *nodes, Seed: *seed, Start: t, RPS: *rps, Shape: *shape}
	if *apiservers > 1 {
		err = runSplit(*size, *out, *compress, *apiservers, opts)
	} else {
		err = run(*size, *out, *compress, opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit-corpus:", err)
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	u := strings.ToUpper(s)
	for _, suf := range []struct {
		s string
		m int64
	}{{"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if strings.HasSuffix(u, suf.s) {
			mult, u = suf.m, strings.TrimSuffix(u, suf.s)
			break
		}
	}
	f, err := strconv.ParseFloat(u, 64)
	if err != nil {
		return 0, fmt.Errorf("bad -size %q", s)
	}
	return int64(f * float64(mult)), nil
}

func run(sizeArg, out, compress string, opts corpus.Options) error {
	size, err := parseSize(sizeArg)
	if err != nil {
		return err
	}
	var w io.Writer = os.Stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); cerr != nil {
				fmt.Fprintln(os.Stderr, "audit-corpus:", cerr)
				os.Exit(1)
			}
		}()
		w = f
	}
	var closer io.Closer
	switch compress {
	case "none":
	case "gzip":
		zw := gzip.NewWriter(w)
		w, closer = zw, zw
	case "zstd":
		zw, err := zstd.NewWriter(w)
		if err != nil {
			return err
		}
		w, closer = zw, zw
	default:
		return fmt.Errorf("unknown -compress %q", compress)
	}
	opts.Size = size
	n, err := corpus.Generate(w, opts)
	if err != nil {
		return err
	}
	if closer != nil {
		if err := closer.Close(); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "wrote %d events\n", n)
	return nil
}

// runSplit writes one cluster's log over n files, out with %d numbered
// from 1, each request's events (its stages) in the same file.
func runSplit(sizeArg, out, compress string, n int, opts corpus.Options) error {
	size, err := parseSize(sizeArg)
	if err != nil {
		return err
	}
	if compress != "none" {
		return fmt.Errorf("-apiservers writes plain files (compress them after)")
	}
	if out == "-" || strings.Count(out, "%d") != 1 {
		return fmt.Errorf("-apiservers %d needs -o with one %%d, as in apiserver-%%d.log", n)
	}
	var files []*os.File
	var outs []io.Writer
	for i := 1; i <= n; i++ {
		f, err := os.Create(fmt.Sprintf(out, i))
		if err != nil {
			return err
		}
		files = append(files, f)
		outs = append(outs, f)
	}
	opts.Size = size
	events, err := corpus.GenerateSplit(outs, opts)
	for _, f := range files {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %d events over %d files\n", events, n)
	return nil
}
