package sources

import (
	"context"
	"fmt"
	"time"

	"github.com/kubectl-audit/kubectl-audit/sources/bucket"
	"github.com/kubectl-audit/kubectl-audit/sources/cloudwatch"
)

// IsBucketURL reports a -f value naming a bucket: s3://, gs://, azblob://
// or file://.
func IsBucketURL(s string) bool { return bucket.IsURL(s) }

// IsLogServiceURL reports a --from value naming a log service:
// cloudwatch:///aws/eks/CLUSTER/cluster.
func IsLogServiceURL(s string) bool { return cloudwatch.IsURL(s) }

// Cloud is the buckets and log groups of one run: their inputs, and what
// they counted.
type Cloud struct {
	buckets []*bucket.Source
	groups  []*cloudwatch.Source
}

// OpenCloud lists the objects of the buckets (urls) and the audit streams
// of the log groups (groups) that may hold events of [since, until), as
// inputs read oldest first. cacheDir keeps downloaded objects ("" for
// none). Close the Cloud once read.
func OpenCloud(ctx context.Context, urls, groups []string, since, until time.Time, cacheDir string) (*Cloud, []Input, error) {
	c := &Cloud{}
	var inputs []Input
	for _, u := range urls {
		s, err := bucket.Open(ctx, u, bucket.Options{CacheDir: cacheDir})
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		c.buckets = append(c.buckets, s)
		objs, err := s.Objects(ctx, since, until)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		for _, o := range objs {
			in := Input{Name: o.Name, Open: o.Open, Origin: o, Size: o.Size}
			if o.Stream != "" {
				in.Stream = s.URL() + "#" + o.Stream
			}
			inputs = append(inputs, in)
		}
	}
	for _, g := range groups {
		s, err := cloudwatch.Open(ctx, g, cloudwatch.Options{})
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		c.groups = append(c.groups, s)
		objs, err := s.Objects(ctx, since, until)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		for _, o := range objs {
			inputs = append(inputs, Input{Name: o.Name, Stream: o.Name, Open: o.Open, Origin: o})
		}
	}
	return c, inputs, nil
}

// Summary is one line per bucket and log group: what was listed, pruned,
// read from the cache and downloaded.
func (c *Cloud) Summary() []string {
	if c == nil {
		return nil
	}
	var lines []string
	for _, s := range c.buckets {
		lines = append(lines, fmt.Sprintf("%s: %s", s.URL(), s.Stats()))
	}
	for _, s := range c.groups {
		lines = append(lines, fmt.Sprintf("%s: %s", s.URL(), s.Stats()))
	}
	return lines
}

// Close stops downloads and removes staged objects (not the cache).
func (c *Cloud) Close() {
	if c == nil {
		return
	}
	for _, s := range c.buckets {
		_ = s.Close()
	}
	for _, s := range c.groups {
		_ = s.Close()
	}
}
