package bucket

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The providers' key layouts (testdata/LAYOUTS.md cites the documentation
// each one follows). Times in keys are UTC, the providers' default.
var (
	// AKS diagnostic setting to a storage account, container
	// insights-logs-kube-audit[-admin]:
	// resourceId=/SUBSCRIPTIONS/…/MANAGEDCLUSTERS/NAME/y=2026/m=11/d=25/h=05/m=00/PT1H.json
	aksKey = regexp.MustCompile(`(?:^|/)y=(\d{4})/m=(\d{2})/d=(\d{2})/h=(\d{2})/m=(\d{2})/PT1H\.json$`)
	// GKE (Cloud Logging sink to Cloud Storage):
	// cloudaudit.googleapis.com/activity/2026/11/25/05:00:00_05:59:59_S0.json
	// (shards S0, S1, …; An for late entries).
	gkeKey = regexp.MustCompile(`(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2}):(\d{2}):(\d{2})_(\d{2}):(\d{2}):(\d{2})_[SA]\d+\.json$`)
	// Firehose to S3: <prefix, by default YYYY/MM/dd/HH/><stream name>-
	// <stream version>-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz]. The time in the
	// name is read even under a custom prefix.
	firehoseName = regexp.MustCompile(`(?:^|/)[^/]+-\d+-(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-[0-9a-fA-F]{8}-[0-9a-fA-F-]+[^/]*$`)
	// CloudWatch Logs export task: <prefix>/<task id>/<stream>/000000.gz.
	exportChunk = regexp.MustCompile(`^\d{6}\.gz$`)
)

// streamOf names the log an object is a part of, for a reader that
// merges logs by time and reads each one's objects in turn: the key
// without its time (AKS: the cluster; Firehose: the delivery stream; an
// export task: the task and log stream; GKE: the log and shard, whose
// entries overlap shard by shard).
func streamOf(key, layout string) string {
	dir := key[:strings.LastIndexByte(key, '/')+1]
	base := key[len(dir):]
	switch layout {
	case LayoutAKS:
		return aksKey.ReplaceAllString(key, "/")
	case LayoutGKE:
		if m := gkeKey.FindStringSubmatchIndex(key); m != nil {
			shard := base[strings.LastIndexByte(base, '_')+1:]
			return key[:m[2]] + strings.TrimSuffix(shard, ".json")
		}
	case LayoutFirehose:
		if m := firehoseName.FindStringSubmatchIndex(key); m != nil {
			name := key[m[0]:m[2]] // "/<stream>-<version>-"
			name = name[:strings.LastIndexByte(strings.TrimSuffix(name, "-"), '-')]
			return datedPrefix(dir) + strings.TrimPrefix(name, "/")
		}
	case LayoutCloudWatchExport:
		return dir
	case LayoutDated:
		return datedPrefix(dir) + base
	}
	return ""
}

// datedPrefix cuts a directory at its first date component.
func datedPrefix(dir string) string {
	var d dateCtx
	off := 0
	for seg := range strings.SplitSeq(strings.TrimSuffix(dir, "/"), "/") {
		if _, ok := d.next(seg); ok {
			return dir[:off]
		}
		off += len(seg) + 1
	}
	return dir
}

// firehoseBuffer is Firehose's longest buffering interval: an object holds
// records that arrived within it of the time in its name.
const firehoseBuffer = 900 * time.Second

// keyTime returns the period a key names and its layout, or zero times.
func keyTime(key string) (start, end time.Time, layout string) {
	if m := aksKey.FindStringSubmatch(key); m != nil {
		if t, ok := date(m[1], m[2], m[3], m[4], m[5], "0"); ok {
			return t, t.Add(time.Hour), LayoutAKS
		}
	}
	if m := gkeKey.FindStringSubmatch(key); m != nil {
		t0, ok0 := date(m[1], m[2], m[3], m[4], m[5], m[6])
		t1, ok1 := date(m[1], m[2], m[3], m[7], m[8], m[9])
		if ok0 && ok1 && !t1.Before(t0) {
			return t0, t1.Add(time.Second), LayoutGKE
		}
	}
	if m := firehoseName.FindStringSubmatch(key); m != nil {
		if t, ok := date(m[1], m[2], m[3], m[4], m[5], m[6]); ok {
			// Whether the name carries the first record's arrival or the
			// delivery time, the records lie within one buffer of it.
			return t.Add(-firehoseBuffer), t.Add(firehoseBuffer), LayoutFirehose
		}
	}
	return time.Time{}, time.Time{}, ""
}

func date(y, mo, d, h, mi, s string) (time.Time, bool) {
	n := func(v string) int { i, _ := strconv.Atoi(v); return i }
	Y, M, D, H, Mi, S := n(y), n(mo), n(d), n(h), n(mi), n(s)
	if M < 1 || M > 12 || D < 1 || D > 31 || H > 23 || Mi > 59 || S > 59 {
		return time.Time{}, false
	}
	t := time.Date(Y, time.Month(M), D, H, Mi, S, 0, time.UTC)
	if t.Day() != D { // 2026-02-31
		return time.Time{}, false
	}
	return t, true
}

// dateCtx is what the directories above a prefix say of its time: a year,
// then a month, day and hour (2026/11/25/05, y=2026/m=11/d=25/h=05,
// year=2026/month=11/day=25/hour=05).
type dateCtx struct {
	level      int // components seen: 0 none … 4 hour
	y, m, d, h int
	start, end time.Time
}

var dateSeg = [4]*regexp.Regexp{
	regexp.MustCompile(`^(?:y=|year=)?(\d{4})$`),
	regexp.MustCompile(`^(?:m=|month=)?(\d{1,2})$`),
	regexp.MustCompile(`^(?:d=|day=)?(\d{1,2})$`),
	regexp.MustCompile(`^(?:h=|hour=)?(\d{1,2})$`),
}

// next returns the context below directory seg, and whether seg was the
// next date component.
func (c dateCtx) next(seg string) (dateCtx, bool) {
	if c.level >= 4 {
		return c, false
	}
	m := dateSeg[c.level].FindStringSubmatch(seg)
	if m == nil {
		return c, false
	}
	v, _ := strconv.Atoi(m[1])
	n := c
	n.level++
	switch c.level {
	case 0:
		if v < 1990 || v > 2199 {
			return c, false
		}
		n.y = v
		n.start = time.Date(v, 1, 1, 0, 0, 0, 0, time.UTC)
		n.end = n.start.AddDate(1, 0, 0)
	case 1:
		if v < 1 || v > 12 {
			return c, false
		}
		n.m = v
		n.start = time.Date(c.y, time.Month(v), 1, 0, 0, 0, 0, time.UTC)
		n.end = n.start.AddDate(0, 1, 0)
	case 2:
		t := time.Date(c.y, time.Month(c.m), v, 0, 0, 0, 0, time.UTC)
		if v < 1 || t.Day() != v {
			return c, false
		}
		n.d = v
		n.start, n.end = t, t.AddDate(0, 0, 1)
	case 3:
		if v > 23 {
			return c, false
		}
		n.h = v
		n.start = time.Date(c.y, time.Month(c.m), c.d, v, 0, 0, 0, time.UTC)
		n.end = n.start.Add(time.Hour)
	}
	return n, true
}
