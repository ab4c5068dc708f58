package top

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/kubectl-audit/kubectl-audit/audit"
	"github.com/kubectl-audit/kubectl-audit/sources"
)

// BenchmarkTop measures top over a generated log:
//
//	go run ./cmd/audit-corpus -size 1GB -o /tmp/audit-1g.log
//	AUDIT_BENCH_FILE=/tmp/audit-1g.log go test ./top -run XXX -bench Top -benchtime 3x
func BenchmarkTop(b *testing.B) {
	file := os.Getenv("AUDIT_BENCH_FILE")
	if file == "" {
		b.Skip("set AUDIT_BENCH_FILE to a generated audit log")
	}
	for _, bc := range []struct {
		name  string
		by    string
		every time.Duration
	}{
		{"by=user", "user", 0},
		{"by=user,resource/every=1m", "user,resource", time.Minute},
	} {
		b.Run(bc.name, func(b *testing.B) {
			keys, err := ParseKeys(bc.by)
			if err != nil {
				b.Fatal(err)
			}
			inputs, err := sources.ResolveInputs([]string{file}, nil)
			if err != nil {
				b.Fatal(err)
			}
			var size int64
			for i := 0; i < b.N; i++ {
				var aggs []*Aggregator
				st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: inputs}, func() audit.Sink {
					a := New(Options{Groupings: [][]KeySpec{keys}, Every: bc.every})
					aggs = append(aggs, a)
					return a
				})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Merge(aggs, MergeOptions{Limit: 20}); err != nil {
					b.Fatal(err)
				}
				size = st.Bytes
			}
			b.SetBytes(size)
		})
	}
}
