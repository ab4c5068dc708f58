#!/usr/bin/env bash
# Whole-command measurements on generated logs: MB/s, events/s and peak
# RSS (from /usr/bin/time), for the project's corpus and one shaped like a
# large real cluster's log (corpus.ShapeLarge), then kubectl audit against
# DuckDB in paired runs (bench/, its own module).
#
#   ./hack/bench.sh [SIZE]       # SIZE defaults to 1GB
#
# Writes its corpora to ${BENCH_DIR:-/tmp/kubectl-audit-bench} and reuses
# them. Run it on an idle machine: the figures mean nothing while anything
# else compiles.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1GB}
# shellcheck source=hack/bench-corpora.sh
. ./hack/bench-corpora.sh
BIN="$DIR/kubectl-audit"
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$BIN.linked" ./cmd/kubectl-audit # as the release builds it
# Measured as installed: copied, as krew and tar write it. The file the
# linker wrote sits in the page cache in folios that map back large, which
# adds 10-30 MB of the executable to peak RSS (see the README).
cp "$BIN.linked" "$BIN" && rm -f "$BIN.linked"
(cd bench && go build -o "$DIR/vsduckdb" ./cmd/vsduckdb)
[ -f "$PROJECT.zst" ] || zstd -q -1 -c "$PROJECT" > "$PROJECT.zst" 2>/dev/null || "$DIR/audit-corpus" -size "$SIZE" -compress zstd -o "$PROJECT.zst" 2>/dev/null
# The large corpus's cluster behind three apiservers: its log split over
# three, each request in one of them, as an HA control plane writes them.
# They overlap in time and are merged by time into the large corpus's events.
mkdir -p "$DIR/ha-split"
[ -f "$DIR/ha-split/apiserver-3.log" ] || "$DIR/audit-corpus" -size "$SIZE" -shape large -apiservers 3 -o "$DIR/ha-split/apiserver-%d.log" 2>/dev/null
# Ten links to one file: ten overlapping inputs, to check memory stays flat.
mkdir -p "$DIR/x10"
for i in $(seq 1 10); do ln -sf "$PROJECT" "$DIR/x10/audit-$i.log"; done

measure() { # name, bytes, events, command...
	local name=$1 bytes=$2 events=$3; shift 3
	local tf
	tf=$(mktemp)
	/usr/bin/time -o "$tf" -f "%e %M" "$@" > /dev/null 2>/dev/null || true
	local out
	out=$(tail -1 "$tf"); rm -f "$tf"
	local secs=${out% *} rss=${out#* }
	awk -v name="$name" -v s="$secs" -v rss="$rss" -v b="$bytes" -v ev="$events" \
		'BEGIN { printf "%-52s %7.2fs %6.0f MB/s %9.0f events/s %5.0f MB RSS\n", name, s, b/s/1e6, ev/s, rss/1024 }'
}

cat "$PROJECT" "$LARGE" > /dev/null # page cache
for c in "$PROJECT" "$LARGE"; do
	bytes=$(stat -L -c %s "$c")
	events=$(wc -l < "$c")
	echo "== $(basename "$c"): $((bytes / 1000000)) MB, $events events, $(nproc) cores, $(date -u +%Y-%m-%d)"
	measure "top --by user, 1 worker"              "$bytes" "$events" "$BIN" top -q --by user --workers 1 -f "$c"
	measure "top --by user, all cores"             "$bytes" "$events" "$BIN" top -q --by user -f "$c"
	measure "top --by user,resource --every 1m"    "$bytes" "$events" "$BIN" top -q --by user,resource --every 1m -f "$c"
	measure "detect, all shipped rules, all cores" "$bytes" "$events" "$BIN" detect -q -f "$c"
	if command -v jq > /dev/null; then
		measure "jq -r .user.username | sort | uniq -c" "$bytes" "$events" bash -c "jq -r .user.username < '$c' | sort | uniq -c"
	fi
done

bytes=$(stat -L -c %s "$PROJECT")
events=$(wc -l < "$PROJECT")
echo "== compressed and overlapping inputs ($(basename "$PROJECT"))"
measure "top --by user, gzip, all cores"       "$bytes" "$events" "$BIN" top -q --by user -f "$PROJECT.gz"
measure "gunzip alone (gzip -dc)"              "$bytes" "$events" gzip -dc "$PROJECT.gz"
measure "top --by user, zstd, all cores"       "$bytes" "$events" "$BIN" top -q --by user -f "$PROJECT.zst"
if command -v zstd > /dev/null; then
	measure "zstd alone (zstd -dc)"            "$bytes" "$events" zstd -dc "$PROJECT.zst"
fi
echo "-- the reader's own decoders alone (go test -bench):"
AUDIT_BENCH_FILE="$PROJECT" AUDIT_BENCH_GZIP="$PROJECT.gz" AUDIT_BENCH_ZSTD="$PROJECT.zst" \
	go test ./sources -run XXX -bench 'GunzipOnly|ZstdOnly' -benchtime 2x | grep '^Benchmark'
measure "top --by user, 10 overlapping inputs" "$((bytes * 10))" "$((events * 10))" "$BIN" top -q --by user -f "$DIR/x10"
measure "detect, 10 overlapping inputs"        "$((bytes * 10))" "$((events * 10))" "$BIN" detect -q -f "$DIR/x10"
lb=$(stat -L -c %s "$LARGE")
le=$(wc -l < "$LARGE")
echo "== $(basename "$LARGE") split over 3 apiservers' logs"
measure "top --by user, 3 logs merged by time"  "$lb" "$le" "$BIN" top -q --by user -f "$DIR/ha-split"
measure "detect, 3 logs merged by time"         "$lb" "$le" "$BIN" detect -q -f "$DIR/ha-split"
measure "detect, the same events as one log"    "$lb" "$le" "$BIN" detect -q -f "$LARGE"

echo "== kubectl audit against DuckDB (paired runs, medians)"
"$DIR/vsduckdb" -kubectl-audit "$BIN" -runs "${BENCH_RUNS:-3}" "$PROJECT" "$LARGE"
