package main

import (
	"bufio"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"
)

// TestReleaseExecutablePages checks that the test binary's read-only
// mappings of itself are advised and hold fewer resident pages after, and
// that the process goes on running code from them (and, in a cgo build,
// calling into libc).
func TestReleaseExecutablePages(t *testing.T) {
	before := executableRSS(t)
	if before == 0 {
		t.Fatal("no resident pages of the executable before")
	}
	if n := releaseExecutablePages(); n == 0 {
		t.Fatal("no mapping of the executable advised")
	}
	// In a cgo build this calls into libc through the relocations that
	// must have been left alone.
	if _, err := user.Current(); err != nil {
		t.Logf("user.Current: %v", err)
	}
	after := executableRSS(t)
	if after >= before {
		t.Fatalf("resident read-only pages of the executable: %d KB before, %d KB after", before, after)
	}
	t.Logf("resident read-only pages of the executable: %d KB before, %d KB after", before, after)
}

// executableRSS sums the Rss of the read-only mappings of the executable
// in /proc/self/smaps, in KB.
func executableRSS(t *testing.T) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) >= 5 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":"):
			in = len(fs) >= 6 && fs[5] == exe && fs[1][1] == '-'
		case in && len(fs) >= 2 && fs[0] == "Rss:":
			kb, _ := strconv.Atoi(fs[1])
			total += kb
		}
	}
	return total
}
