package cmd

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFromBucket reads a bucket (file://, the same path as s3://, gs://
// and azblob://, which sources/bucket tests against emulators) holding
// the test log as EKS's Firehose delivers it, and compares with -f on the
// plain file; the second run reads from --cache-dir.
func TestFromBucket(t *testing.T) {
	plain := filepath.Join("testdata", "audit.log")
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	dir := t.TempDir()
	for i, part := range [][]string{lines[:len(lines)/2], lines[len(lines)/2:]} {
		var b bytes.Buffer
		for k := 0; k < len(part); k += 50 {
			var evs []map[string]any
			for _, l := range part[k:min(k+50, len(part))] {
				evs = append(evs, map[string]any{"id": "1", "timestamp": 0, "message": l})
			}
			rec, err := json.Marshal(map[string]any{"messageType": "DATA_MESSAGE", "logGroup": "/aws/eks/x/cluster", "logStream": "kube-apiserver-audit-1", "logEvents": evs})
			if err != nil {
				t.Fatal(err)
			}
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write(rec)
			_ = zw.Close()
		}
		p := filepath.Join(dir, "2026", "11", "25", "0"+string(rune('5'+i)), "audit-1-2026-11-25-05-00-00-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, _, err := runCmd(t, "", "top", "-o", "json", "--by", "user,verb", "--no-link", "-f", plain)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	for _, summary := range []string{"listed 2 objects, 0 pruned by time, 0 from cache, 2 downloaded", "listed 2 objects, 0 pruned by time, 2 from cache, 0 downloaded"} {
		out, errOut, err := runCmd(t, "", "top", "-o", "json", "--by", "user,verb", "--no-link", "-f", "file://"+dir+"/", "--cache-dir", cache)
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		if out != want {
			t.Errorf("-f file://DIR/ output differs from -f on the plain file")
		}
		if !strings.Contains(errOut, "file://"+dir+"/: "+summary) {
			t.Errorf("stderr lacks %q:\n%s", summary, errOut)
		}
	}
}

// TestFromCloudWatch: --from takes a CloudWatch Logs group beside nodes.
func TestFromCloudWatch(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	_, _, err := runCmd(t, "", "top", "--no-link", "--from", "cloudwatch:///aws/eks/prod/cluster")
	if err == nil || !strings.Contains(err.Error(), "cloudwatch:///aws/eks/prod/cluster: no AWS region: set AWS_REGION") {
		t.Fatalf("%v, want the missing region named", err)
	}
}
