#!/usr/bin/env bash
# Whole-command measurements of the reading path, top and detect on a
# generated log: MB/s, events/s and peak RSS (from /usr/bin/time).
#
#   ./hack/bench.sh [SIZE]       # SIZE defaults to 1GB
#
# Writes its corpora to ${BENCH_DIR:-/tmp/kubectl-audit-bench} and reuses them.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1GB}
DIR=${BENCH_DIR:-/tmp/kubectl-audit-bench}
mkdir -p "$DIR"
BIN="$DIR/kubectl-audit"
go build -o "$BIN" ./cmd/kubectl-audit
go build -o "$DIR/audit-corpus" ./cmd/audit-corpus
PLAIN="$DIR/audit-$SIZE.log"
[ -f "$PLAIN" ] || "$DIR/audit-corpus" -size "$SIZE" -o "$PLAIN"
[ -f "$PLAIN.gz" ] || gzip -1 -c "$PLAIN" > "$PLAIN.gz"
[ -f "$PLAIN.zst" ] || "$DIR/audit-corpus" -size "$SIZE" -compress zstd -o "$PLAIN.zst"
# Ten links to the same file: a 10x input, to check memory stays flat.
mkdir -p "$DIR/x10"
for i in $(seq 1 10); do ln -sf "$PLAIN" "$DIR/x10/audit-$i.log"; done

bytes=$(stat -c %s "$PLAIN")
events=$(wc -l < "$PLAIN")
cat "$PLAIN" > /dev/null # page cache

measure() { # name, command...
	local name=$1; shift
	local tf
	tf=$(mktemp)
	/usr/bin/time -o "$tf" -f "%e %M" "$@" > /dev/null 2>/dev/null || true
	local out
	out=$(tail -1 "$tf"); rm -f "$tf"
	local secs=${out% *} rss=${out#* }
	local mul=1
	case "$name" in *x10*) mul=10 ;; esac
	awk -v name="$name" -v s="$secs" -v rss="$rss" -v b="$bytes" -v ev="$events" -v mul="$mul" \
		'BEGIN { printf "%-44s %7.2fs %6.0f MB/s %9.0f events/s %5.0f MB RSS\n", name, s, b*mul/s/1e6, ev*mul/s, rss/1024 }'
}

echo "input: $PLAIN, $((bytes / 1000000)) MB, $events events, $(nproc) cores"
measure "top --by user, 1 worker"                "$BIN" top -q --by user --workers 1 -f "$PLAIN"
measure "top --by user, all cores"               "$BIN" top -q --by user -f "$PLAIN"
measure "top --by user, all cores, 10x input x10" "$BIN" top -q --by user -f "$DIR/x10"
measure "top --by user,resource --every 1m"      "$BIN" top -q --by user,resource --every 1m -f "$PLAIN"
measure "top --by user, gzip, 1 worker"          "$BIN" top -q --by user --workers 1 -f "$PLAIN.gz"
measure "top --by user, gzip, all cores"         "$BIN" top -q --by user -f "$PLAIN.gz"
measure "gunzip alone (gzip -dc)"                gzip -dc "$PLAIN.gz"
measure "top --by user, zstd, all cores"         "$BIN" top -q --by user -f "$PLAIN.zst"
if "$BIN" detect --help > /dev/null 2>&1; then
	measure "detect, all shipped rules, all cores"   "$BIN" detect -q -f "$PLAIN"
	measure "detect, all rules, 10x input x10"       "$BIN" detect -q -f "$DIR/x10"
fi
if command -v jq > /dev/null; then
	measure "jq -r .user.username | sort | uniq -c" bash -c "jq -r .user.username < '$PLAIN' | sort | uniq -c"
fi
