package bucket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEnvelopes reads each envelope through a file:// bucket, the same
// path as the clouds', and checks the lines the reader gets.
func TestEnvelopes(t *testing.T) {
	ev := func(id string) string {
		return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"` + id + `","stage":"ResponseComplete"}`
	}
	rec := func(ids ...string) string {
		var evs []string
		for _, id := range ids {
			evs = append(evs, `{"id":"1","timestamp":1,"message":`+quote(ev(id))+`}`)
		}
		return `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/eks/x/cluster","logStream":"kube-apiserver-audit-1","subscriptionFilters":["f"],"logEvents":[` + strings.Join(evs, ",") + `]}`
	}
	control := `{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`
	cases := []struct {
		name    string
		data    []byte
		want    string // the lines, joined
		raw     bool   // returned as stored
		control int64
	}{
		{name: "JSON lines pass as stored", data: []byte(ev("a") + "\n" + ev("b") + "\n"), want: ev("a") + "\n" + ev("b") + "\n", raw: true},
		{name: "gzip'd JSON lines pass as stored", data: gz(t, []byte(ev("a")+"\n")), raw: true},
		{name: "gzip'd records concatenated", data: append(append(gz(t, []byte(control)), gz(t, []byte(rec("a", "b")))...), gz(t, []byte(rec("c")))...),
			want: ev("a") + "\n" + ev("b") + "\n" + ev("c") + "\n", control: 1},
		{name: "records gzip'd twice", data: gz(t, append(gz(t, []byte(rec("a"))), gz(t, []byte(rec("b")))...)), want: ev("a") + "\n" + ev("b") + "\n"},
		{name: "records, newline-delimited", data: []byte(rec("a") + "\n" + control + "\n" + rec("b") + "\n"), want: ev("a") + "\n" + ev("b") + "\n", control: 1},
		{name: "messages concatenated", data: []byte(ev("a") + ev("b") + "  " + ev("c")), want: ev("a") + "\n" + ev("b") + "\n" + ev("c") + "\n"},
		{name: "export task lines", data: gz(t, []byte("2026-11-25T05:42:27.000Z "+ev("a")+"\n2026-11-25T05:42:28.123Z\t"+ev("b")+"\n")), want: ev("a") + "\n" + ev("b") + "\n"},
		{name: "Azure legacy records document", data: []byte("{\n  \"records\": [\n    {\"properties\": {\"log\": " + quote(ev("a")) + "}},\n    {\"properties\": {\"log\": " + quote(ev("b")) + "}}\n  ]\n}\n"),
			want: `{"properties": {"log": ` + quote(ev("a")) + "}}\n" + `{"properties": {"log": ` + quote(ev("b")) + "}}\n"},
		{name: "byte order mark", data: []byte("\xef\xbb\xbf" + ev("a") + "\n"), want: ev("a") + "\n"},
		{name: "garbage between records is passed on", data: []byte(rec("a") + "nonsense\n" + rec("b")), want: ev("a") + "\nnonsense\n" + ev("b") + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "obj"), c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			s, err := Open(ctx, "file://"+dir+"/", Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			objs, err := s.Objects(ctx, time.Time{}, time.Time{})
			if err != nil || len(objs) != 1 {
				t.Fatalf("%v, %d objects", err, len(objs))
			}
			rc, err := objs[0].Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			_ = rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			if c.raw {
				if !bytes.Equal(got, c.data) {
					t.Fatalf("not returned as stored: %q", got)
				}
				return
			}
			if string(got) != c.want {
				t.Fatalf("got\n%s\nwant\n%s", got, c.want)
			}
			if st := s.Stats(); st.Control != c.control {
				t.Errorf("%d control messages dropped, want %d", st.Control, c.control)
			}
		})
	}
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// TestKeyTimes: the period each provider's key names, and what is not a
// date directory.
func TestKeyTimes(t *testing.T) {
	h := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	cases := []struct {
		key, layout string
		start, end  time.Time
	}{
		{"resourceId=/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/C/y=2026/m=11/d=25/h=05/m=00/PT1H.json", LayoutAKS, h("2026-11-25T05:00:00Z"), h("2026-11-25T06:00:00Z")},
		{"cloudaudit.googleapis.com/data_access/2026/11/25/05:00:00_05:59:59_S1.json", LayoutGKE, h("2026-11-25T05:00:00Z"), h("2026-11-25T06:00:00Z")},
		{"cloudaudit.googleapis.com/activity/2026/11/25/05:00:00_05:59:59_A0.json", LayoutGKE, h("2026-11-25T05:00:00Z"), h("2026-11-25T06:00:00Z")},
		{"eks/2026/11/25/05/audit-stream-3-2026-11-25-05-10-00-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f.gz", LayoutFirehose, h("2026-11-25T04:55:00Z"), h("2026-11-25T05:25:00Z")},
		{"custom/audit-stream-1-2026-11-25-05-10-00-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f", LayoutFirehose, h("2026-11-25T04:55:00Z"), h("2026-11-25T05:25:00Z")},
		{"export/6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9/kube-apiserver-audit-1/000000.gz", "", time.Time{}, time.Time{}},
		{"y=2026/m=02/d=31/h=05/m=00/PT1H.json", "", time.Time{}, time.Time{}},
	}
	for _, c := range cases {
		s, e, l := keyTime(c.key)
		if l != c.layout || !s.Equal(c.start) || !e.Equal(c.end) {
			t.Errorf("%s: %s %s..%s, want %s %s..%s", c.key, l, s, e, c.layout, c.start, c.end)
		}
	}
	var d dateCtx
	for _, seg := range []string{"cloudaudit.googleapis.com", "activity", "2026", "11", "25", "05"} {
		d, _ = d.next(seg)
	}
	if !d.start.Equal(h("2026-11-25T05:00:00Z")) || !d.end.Equal(h("2026-11-25T06:00:00Z")) {
		t.Errorf("2026/11/25/05: %s..%s", d.start, d.end)
	}
	for _, seg := range []string{"1234", "13"} {
		if _, ok := (dateCtx{}).next(seg); ok && seg == "1234" {
			t.Errorf("%s taken for a year", seg)
		}
	}
	if _, ok := (dateCtx{level: 1, y: 2026}).next("13"); ok {
		t.Error("13 taken for a month")
	}
}

// TestTruncatedGzipNamed: a gzip'd envelope cut short fails naming the
// object, after the events before the cut.
func TestTruncatedGzipNamed(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	for i := range 50 {
		b.WriteString("2026-11-25T05:42:27.000Z {\"auditID\":\"" + strings.Repeat("x", i) + "\"}\n")
	}
	z := gz(t, b.Bytes())
	if err := os.WriteFile(filepath.Join(dir, "000000.gz"), z[:len(z)-12], 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := Open(ctx, "file://"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	objs, err := s.Objects(ctx, time.Time{}, time.Time{})
	if err != nil || len(objs) != 1 {
		t.Fatalf("%v %d", err, len(objs))
	}
	rc, err := objs[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	_ = rc.Close()
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "000000.gz") || !strings.Contains(err.Error(), "truncated gzip stream") {
		t.Fatalf("%v, want a truncated gzip error naming 000000.gz", err)
	}
	if n := bytes.Count(data, []byte("\n")); n < 40 {
		t.Errorf("%d lines before the damage, want most of the 50", n)
	}
}

// TestStreams: which objects form one time-ordered log.
func TestStreams(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{"resourceId=/SUBSCRIPTIONS/X/MANAGEDCLUSTERS/C/y=2026/m=11/d=25/h=05/m=00/PT1H.json", "resourceId=/SUBSCRIPTIONS/X/MANAGEDCLUSTERS/C/"},
		{"cloudaudit.googleapis.com/activity/2026/11/25/05:00:00_05:59:59_S1.json", "cloudaudit.googleapis.com/activity/S1"},
		{"eks/2026/11/25/05/audit-stream-3-2026-11-25-05-10-00-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f.gz", "eks/audit-stream"},
		{"export/6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9/kube-apiserver-audit-1/000001.gz", "export/6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9/kube-apiserver-audit-1/"},
		{"logs/2026/11/25/05/audit.log.gz", "logs/audit.log.gz"},
		{"logs/audit.log.1.gz", ""},
	} {
		_, _, layout := keyTime(c.key)
		if layout == "" && exportChunk.MatchString(c.key[strings.LastIndexByte(c.key, '/')+1:]) {
			layout = LayoutCloudWatchExport
		}
		if layout == "" && strings.Contains(c.key, "/2026/") {
			layout = LayoutDated
		}
		if got := streamOf(c.key, layout); got != c.want {
			t.Errorf("%s: stream %q, want %q", c.key, got, c.want)
		}
	}
}
