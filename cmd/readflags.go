package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// ReadFlags are the input flags every analysing command shares.
type ReadFlags struct {
	Filenames   []string
	Since       string
	Until       string
	Stage       string
	Workers     int
	MaxLineSize string
	Strict      bool
	Quiet       bool
	// Nodes reads from control-plane nodes (--from).
	Nodes NodeFlags
	// CacheDir keeps objects downloaded from buckets (--cache-dir).
	CacheDir string
	cloud    *sources.Cloud
}

// NewReadFlags returns the defaults.
func NewReadFlags() *ReadFlags {
	return &ReadFlags{Stage: "auto", MaxLineSize: "64Mi"}
}

// AddFlags registers the flags.
func (f *ReadFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&f.Filenames, "filename", "f", f.Filenames,
		"audit log files, directories, globs, - for stdin, or buckets: s3://, gs://, azblob://BUCKET/PREFIX/, file:///DIR/ (repeatable); gzip and zstd are detected by content")
	fs.StringVar(&f.Since, "since", f.Since, "only events received at or after this time: a duration before now (2h, 30m) or an RFC 3339 time")
	fs.StringVar(&f.Until, "until", f.Until, "only events received before this time: a duration before now or an RFC 3339 time")
	fs.StringVar(&f.Stage, "stage", f.Stage,
		"which events to use: auto counts each request once (ResponseComplete, else ResponseStarted, else Panic); or a comma-separated list of stages to use as they are")
	fs.IntVar(&f.Workers, "workers", f.Workers, "parsing goroutines (0: one per core)")
	fs.StringVar(&f.MaxLineSize, "max-line-size", f.MaxLineSize, "longest event line read; longer lines are skipped and counted")
	fs.BoolVar(&f.Strict, "strict", f.Strict, "exit with code 3 if any input line was skipped")
	fs.BoolVarP(&f.Quiet, "quiet", "q", f.Quiet, "do not print the reading summary on stderr (problems are still reported)")
	f.Nodes.AddFlags(fs)
	if from := fs.Lookup("from"); from != nil {
		from.Usage += "; or an EKS cluster's CloudWatch Logs group: cloudwatch:///aws/eks/CLUSTER/cluster (needs logs:DescribeLogStreams and logs:FilterLogEvents)"
	}
	fs.StringVar(&f.CacheDir, "cache-dir", f.CacheDir, "keep objects downloaded from buckets in this directory, so that a second run downloads nothing new")
}

// ToOptions validates the flags and resolves the inputs.
func (f *ReadFlags) ToOptions(in io.Reader, now time.Time) (sources.ReadOptions, error) {
	var o sources.ReadOptions
	if len(f.Filenames) == 0 && !f.Nodes.Requested() {
		return o, fmt.Errorf("no input: give audit log files with -f (or -f - for stdin), or read the control-plane nodes' with --from nodes")
	}
	var err error
	if o.Since, err = ParseTimeBound(f.Since, now); err != nil {
		return o, fmt.Errorf("--since: %w", err)
	}
	if o.Until, err = ParseTimeBound(f.Until, now); err != nil {
		return o, fmt.Errorf("--until: %w", err)
	}
	if !o.Since.IsZero() && !o.Until.IsZero() && !o.Since.Before(o.Until) {
		return o, fmt.Errorf("--since (%s) must be before --until (%s)", o.Since.Format(time.RFC3339), o.Until.Format(time.RFC3339))
	}
	if f.Stage != "" && f.Stage != "auto" {
		for _, s := range strings.Split(f.Stage, ",") {
			s = strings.TrimSpace(s)
			switch s {
			case audit.StageRequestReceived, audit.StageResponseStarted, audit.StageResponseComplete, audit.StagePanic:
				o.Stages = append(o.Stages, s)
			default:
				return o, fmt.Errorf("--stage: unknown stage %q (want auto, or RequestReceived, ResponseStarted, ResponseComplete, Panic)", s)
			}
		}
	}
	if f.Workers < 0 {
		return o, fmt.Errorf("--workers must be 0 or more")
	}
	o.Workers = f.Workers
	q, err := resource.ParseQuantity(f.MaxLineSize)
	if err != nil || q.Value() < 1024 {
		return o, fmt.Errorf("--max-line-size: want a size like 16Mi or 64Mi, at least 1Ki, got %q", f.MaxLineSize)
	}
	o.MaxLineSize = int(q.Value())
	var files, buckets, groups, fromNodes []string
	for _, v := range f.Filenames {
		if sources.IsBucketURL(v) {
			buckets = append(buckets, v)
		} else {
			files = append(files, v)
		}
	}
	for _, v := range f.Nodes.From {
		if sources.IsLogServiceURL(v) {
			groups = append(groups, v)
		} else {
			fromNodes = append(fromNodes, v)
		}
	}
	f.Nodes.From = fromNodes
	if len(files) > 0 {
		if o.Inputs, err = sources.ResolveInputs(files, in); err != nil {
			return o, err
		}
	}
	if len(buckets)+len(groups) > 0 {
		var cloud []sources.Input
		if f.cloud, cloud, err = sources.OpenCloud(context.Background(), buckets, groups, o.Since, o.Until, f.CacheDir); err != nil {
			return o, err
		}
		o.Inputs = append(o.Inputs, cloud...)
	}
	nodeInputs, err := f.Nodes.Inputs(context.Background(), o.Since, o.Until)
	if err != nil {
		return o, err
	}
	o.Inputs = append(o.Inputs, nodeInputs...)
	return o, nil
}

// ParseTimeBound parses --since/--until: "" (no bound), a duration before
// now, or an RFC 3339 time.
func ParseTimeBound(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("duration %q must be positive", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (2h, 30m) nor an RFC 3339 time (2026-11-24T10:00:00Z)", s)
}

// Read runs the reading path and reports what it skipped on errOut: the
// first problems with file:line, then the one-line summary. With --strict,
// any skipped line makes the command fail with ExitSkipped, after the
// command's output has been printed by the caller.
func (f *ReadFlags) Read(ctx context.Context, opts sources.ReadOptions, errOut io.Writer, newSink func() audit.Sink) (*sources.Stats, error) {
	stop := governMemory()
	bar := startProgress(errOut, f.Quiet, &opts)
	st, err := sources.Read(ctx, opts, newSink)
	bar.stop()
	stop()
	f.cloud.Close()
	if st != nil {
		f.Report(st, errOut)
	}
	return st, err
}

// Report prints the problems and the summary.
func (f *ReadFlags) Report(st *sources.Stats, errOut io.Writer) {
	skipped := st.SkippedTotal()
	for _, p := range st.Problems {
		fmt.Fprintf(errOut, "warning: %s\n", p)
	}
	if skipped > int64(len(st.Problems)) && len(st.Problems) > 0 {
		fmt.Fprintf(errOut, "warning: ... %d more skipped lines not shown\n", skipped-int64(len(st.Problems)))
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(errOut, "warning: %s\n", w)
	}
	f.Nodes.Report(st, errOut, f.Quiet)
	if !f.Quiet {
		for _, line := range f.cloud.Summary() {
			fmt.Fprintf(errOut, "%s\n", line)
		}
	}
	if !f.Quiet || skipped > 0 || f.Nodes.Failed() > 0 {
		fmt.Fprintf(errOut, "%s%s\n", st.Summary(), f.Nodes.SummarySuffix())
	}
	if st.Events > 0 && st.Used == 0 && st.OtherStages == st.Events {
		fmt.Fprintf(errOut, "warning: none of the %d events is of a stage in use (--stage %s); a log written with only RequestReceived needs --stage RequestReceived\n", st.Events, f.Stage)
	}
}

// StrictError returns the --strict failure for st, or nil.
func (f *ReadFlags) StrictError(st *sources.Stats) error {
	if f.Strict && st != nil && st.SkippedTotal() > 0 {
		return &ExitCodeError{Code: ExitSkipped, Err: fmt.Errorf("--strict: %d input lines were skipped", st.SkippedTotal())}
	}
	if f.Strict && f.Nodes.Failed() > 0 {
		return &ExitCodeError{Code: ExitSkipped, Err: fmt.Errorf("--strict: %d node(s) not read", f.Nodes.Failed())}
	}
	return nil
}
