package top

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

func TestHistQuantiles(t *testing.T) {
	tests := []struct {
		name string
		vals []time.Duration
		q    float64
		want time.Duration
	}{
		{"single", []time.Duration{10 * time.Millisecond}, 0.5, 10 * time.Millisecond},
		{"median of 1..100ms", seq(100, time.Millisecond), 0.5, 50 * time.Millisecond},
		{"p99 of 1..100ms", seq(100, time.Millisecond), 0.99, 99 * time.Millisecond},
		{"sub-microsecond", []time.Duration{100 * time.Nanosecond}, 0.5, 500 * time.Nanosecond},
		{"one hour", []time.Duration{time.Hour}, 0.5, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h hist
			for _, v := range tt.vals {
				h.add(v)
			}
			got := h.quantile(tt.q)
			if rel := math.Abs(float64(got-tt.want)) / float64(tt.want); rel > 0.05 && tt.want > time.Microsecond {
				t.Errorf("quantile(%v) = %v, want %v ±5%%", tt.q, got, tt.want)
			}
		})
	}
}

// Merging histograms is exact: splitting the samples between workers gives
// the same percentiles.
func TestHistMergeIsExact(t *testing.T) {
	var whole, a, b hist
	for i, v := range seq(1000, 37*time.Microsecond) {
		whole.add(v)
		if i%3 == 0 {
			a.add(v)
		} else {
			b.add(v)
		}
	}
	a.merge(&b)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 1} {
		if a.quantile(q) != whole.quantile(q) {
			t.Errorf("q=%v: merged %v, whole %v", q, a.quantile(q), whole.quantile(q))
		}
	}
}

func seq(n int, step time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * step
	}
	return out
}

// TestPruneBound checks the heavy-hitters mode: with a small budget, the
// heavy keys survive and their counts are within the stated bound.
func TestPruneBound(t *testing.T) {
	keys, _ := ParseKeys("name")
	a := New(Options{Groupings: [][]KeySpec{keys}, MaxGroups: 100})
	tb := a.tables[0]
	truth := map[string]int64{}
	add := func(k string) {
		truth[k]++
		r := tb.rows[k]
		if r == nil {
			if len(tb.rows) >= a.opts.MaxGroups {
				tb.prune()
			}
			r = &row{}
			tb.rows[k] = r
		}
		r.count++
	}
	for i := 0; i < 20000; i++ {
		switch {
		case i%10 == 0:
			add("heavy-a")
		case i%25 == 0:
			add("heavy-b")
		default:
			add(fmt.Sprintf("tail-%d", i))
		}
	}
	if !tb.approx || tb.errorBound == 0 {
		t.Fatalf("table should be approximate with a bound, got approx=%v bound=%d", tb.approx, tb.errorBound)
	}
	for _, k := range []string{"heavy-a", "heavy-b"} {
		r := tb.rows[k]
		if r == nil {
			t.Fatalf("%s was pruned", k)
		}
		if r.count > truth[k] || truth[k]-r.count > tb.errorBound {
			t.Errorf("%s: count %d, truth %d, bound %d", k, r.count, truth[k], tb.errorBound)
		}
	}
	if len(tb.rows) > 100 {
		t.Errorf("%d rows kept, budget 100", len(tb.rows))
	}
}

func TestParseKeys(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"user", []string{"user"}, ""},
		{"User, Resource", []string{"user", "resource"}, ""},
		{`verb,expr:verb + "," + resource`, []string{"verb", `expr:verb + "," + resource`}, ""},
		{"colour", nil, `unknown key "colour"`},
		{"expr:nosuch", nil, "unknown name nosuch"},
		{"", nil, "no keys"},
	}
	for _, tt := range tests {
		ks, err := ParseKeys(tt.in)
		if tt.wantErr != "" {
			if err == nil || !contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseKeys(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKeys(%q): %v", tt.in, err)
			continue
		}
		var got []string
		for _, k := range ks {
			got = append(got, k.Name)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ParseKeys(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

// TestLatencySamples: an event without timing (GKE's entries, v1beta1
// events) counts as a request but not as a latency sample, in the rows
// and in the total.
func TestLatencySamples(t *testing.T) {
	lines := []string{
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"objectRef":{"resource":"pods"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-24T10:00:00Z","stageTimestamp":"2026-11-24T10:00:00.040Z"}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"b","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"objectRef":{"resource":"pods"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-24T10:00:01Z"}`,
		`{"kind":"Event","apiVersion":"audit.k8s.io/v1beta1","auditID":"c","stage":"ResponseComplete","verb":"get","user":{"username":"u"},"objectRef":{"resource":"pods"},"responseStatus":{"code":200},"timestamp":"2026-11-24T10:00:02Z"}`,
	}
	keys, err := ParseKeys("user")
	if err != nil {
		t.Fatal(err)
	}
	a := New(Options{Groupings: [][]KeySpec{keys}})
	var e audit.Event
	for _, l := range lines {
		if !e.Scan([]byte(l)) {
			t.Fatalf("not an event: %s", l)
		}
		a.Event(&e)
	}
	res, err := Merge([]*Aggregator{a}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total.Count != 3 || res.Total.LatencySamples != 1 || res.Total.P50Ms == nil {
		t.Fatalf("total %+v, want 3 requests and 1 latency sample", res.Total)
	}
	row := res.Tables[0].Rows[0]
	if row.LatencySamples != 1 || *row.P50Ms < 35 || *row.P50Ms > 45 {
		t.Errorf("row %+v, want 1 sample of about 40ms", row)
	}
}
