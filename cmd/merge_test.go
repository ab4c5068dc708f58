package cmd

import (
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMergedApiservers: three apiservers' logs of one cluster (the real
// log's requests split by auditID, as an HA control plane splits them;
// one of them rotated) read together give the same top, detect and why
// output as the one log that holds them all in time order, for any
// number of workers.
func TestMergedApiservers(t *testing.T) {
	lines := readGzipLines(t, "testdata/real/audit.log.gz")
	dir := t.TempDir()
	parts := make([][]string, 3)
	for _, l := range lines {
		i := strings.Index(l, `"auditID":"`)
		h := fnv.New32a()
		h.Write([]byte(l[i : i+48]))
		n := h.Sum32() % 3
		parts[n] = append(parts[n], l)
	}
	var args []string
	for n, p := range parts {
		d := filepath.Join(dir, "apiserver-"+string(rune('1'+n)))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string][]string{"audit.log": p}
		if n == 1 { // rotated: a backup holds the first half
			files = map[string][]string{"audit-2026-11-25T05-42-40.000.log": p[:len(p)/2], "audit.log": p[len(p)/2:]}
		}
		for name, ls := range files {
			if err := os.WriteFile(filepath.Join(d, name), []byte(strings.Join(ls, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		args = append(args, "-f", d)
	}
	commands := [][]string{
		{"top", "--by", "user", "--limit", "0"},
		{"top", "--by", "verb,resource", "-o", "json"},
		{"detect", "-o", "json"},
		{"detect"},
		{"why", "deploy/checkout", "-n", "shop"},
		{"why", "cm/cluster-settings", "-n", "node-config", "--with-reads", "-o", "json"},
	}
	for _, c := range commands {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			want, errOut, err := runCmd(t, "", append(append([]string{}, c...), "-q", "--no-link", "-f", "testdata/real/audit.log.gz")...)
			if err != nil {
				t.Fatalf("one log: %v\n%s", err, errOut)
			}
			for _, workers := range []string{"1", "3"} {
				got, errOut, err := runCmd(t, "", append(append(append([]string{}, c...), "-q", "--no-link", "--workers", workers), args...)...)
				if err != nil {
					t.Fatalf("merged: %v\n%s", err, errOut)
				}
				if got != want {
					t.Errorf("workers %s: merged output differs from the one log's\n--- merged\n%s\n--- one log\n%s", workers, got, want)
				}
			}
		})
	}
}
