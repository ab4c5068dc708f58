// Command vsduckdb times kubectl audit against DuckDB over the same audit
// logs, in paired runs: see ../../README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// The columns each query reads, declared so DuckDB parses only those.
const topColumns = `{'user': 'STRUCT(username VARCHAR)'}`

const detectColumns = `{'auditID': 'VARCHAR', 'stage': 'VARCHAR', 'verb': 'VARCHAR', 'user': 'STRUCT(username VARCHAR)',
 'sourceIPs': 'VARCHAR[]', 'userAgent': 'VARCHAR', 'objectRef': 'STRUCT(resource VARCHAR, namespace VARCHAR, name VARCHAR, apiGroup VARCHAR)',
 'responseStatus': 'STRUCT(code INTEGER)', 'requestReceivedTimestamp': 'TIMESTAMP'}`

func topQuery(file string) string {
	return fmt.Sprintf(`SELECT "user".username, count(*) FROM read_ndjson('%s', columns=%s, ignore_errors=true, maximum_object_size=67108864) GROUP BY 1`, file, topColumns)
}

// detectQuery is the talk's four detectors in one query.
func detectQuery(file string) string {
	return fmt.Sprintf(`WITH ev AS (
  SELECT * FROM read_ndjson('%s', columns=%s, ignore_errors=true, maximum_object_size=67108864)
  WHERE stage IN ('ResponseComplete', 'ResponseStarted', 'Panic')
), w AS (SELECT *, time_bucket(INTERVAL 5 MINUTE, requestReceivedTimestamp) AS win FROM ev),
unauth AS (
  SELECT 'failed-authentication' AS rule, win, sourceIPs[1] || ' ' || userAgent AS k, count(*) AS n
  FROM w WHERE responseStatus.code = 401 GROUP BY ALL HAVING count(*) >= 5
), forbidden AS (
  SELECT 'rbac-denied' AS rule, win, "user".username || ' ' || objectRef.resource AS k, count(*) AS n
  FROM w WHERE responseStatus.code = 403 GROUP BY ALL HAVING count(*) >= 3
), invalid AS (
  SELECT 'controller-invalid-update-loop' AS rule, win, "user".username || ' ' || objectRef.namespace || '/' || objectRef.name AS k, count(*) AS n
  FROM w WHERE responseStatus.code = 422 GROUP BY ALL HAVING count(*) >= 5
), nodes AS (
  SELECT win, "user".username AS k, count(*) AS n FROM w WHERE "user".username LIKE 'system:node:%%' GROUP BY ALL
), outliers AS (
  SELECT 'node-request-rate-outlier' AS rule, n.win, n.k, n.n FROM nodes n
  JOIN (SELECT win, median(n) AS m FROM nodes GROUP BY win) m USING (win) WHERE n.n > 3 * m.m
)
SELECT rule, count(*) FROM (SELECT * FROM unauth UNION ALL SELECT * FROM forbidden UNION ALL SELECT * FROM invalid UNION ALL SELECT * FROM outliers) GROUP BY rule`, file, detectColumns)
}

func main() {
	worker := flag.String("duckdb", "", "internal: run this query kind (top|detect) on -file in DuckDB and exit")
	file := flag.String("file", "", "internal: the corpus for -duckdb")
	bin := flag.String("kubectl-audit", "kubectl-audit", "the plugin binary")
	runs := flag.Int("runs", 3, "paired runs per measurement")
	threads := flag.Int("threads", 2, "DuckDB threads")
	flag.Parse()
	if *worker != "" {
		if err := duck(*worker, *file, *threads); err != nil {
			fmt.Fprintln(os.Stderr, "duckdb:", err)
			os.Exit(1)
		}
		return
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: vsduckdb [-kubectl-audit BIN] [-runs N] CORPUS...")
		os.Exit(2)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "corpus\twork\tkubectl audit\tMB/s\tevents/s\tRSS\tDuckDB\tRSS\tDuckDB ÷ ours\n")
	for _, corpus := range flag.Args() {
		fi, err := os.Stat(corpus)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		events, err := countLines(corpus)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, work := range []string{"top", "detect"} {
			ours := []string{*bin, "top", "--by", "user", "-o", "json", "-q", "--no-link", "-f", corpus}
			if work == "detect" {
				ours = []string{*bin, "detect", "-o", "json", "-q", "--no-link", "-f", corpus}
			}
			theirs := []string{self, "-duckdb", work, "-file", corpus, "-threads", strconv.Itoa(*threads)}
			var a, b []result
			for i := 0; i < *runs; i++ {
				ra, err := measure(ours)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				rb, err := measure(theirs)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				a, b = append(a, ra), append(b, rb)
			}
			ma, mb := median(a), median(b)
			mbps := float64(fi.Size()) / ma.wall.Seconds() / 1e6
			fmt.Fprintf(tw, "%s\t%s\t%.2fs\t%.0f\t%.0f\t%d MB\t%.2fs\t%d MB\t%.2f\n", filepath.Base(corpus), work,
				ma.wall.Seconds(), mbps, float64(events)/ma.wall.Seconds(), ma.rssMB, mb.wall.Seconds(), mb.rssMB, mb.wall.Seconds()/ma.wall.Seconds())
		}
	}
	tw.Flush()
}

type result struct {
	wall  time.Duration
	rssMB int64
}

func measure(argv []string) (result, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, stderr.String())
	}
	wall := time.Since(start)
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var rss int64
	if ru != nil {
		rss = ru.Maxrss / 1024
	}
	return result{wall: wall, rssMB: rss}, nil
}

func median(rs []result) result {
	sort.Slice(rs, func(i, j int) bool { return rs[i].wall < rs[j].wall })
	return rs[len(rs)/2]
}

func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	r := bufio.NewReaderSize(f, 1<<20)
	buf := make([]byte, 1<<20)
	for {
		k, err := r.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err != nil {
			return n, nil
		}
	}
}

func duck(work, file string, threads int) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, fmt.Sprintf("SET threads TO %d", threads)); err != nil {
		return err
	}
	q := topQuery(file)
	if work == "detect" {
		q = detectQuery(file)
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: no rows", work)
	}
	return nil
}
