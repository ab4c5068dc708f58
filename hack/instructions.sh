#!/usr/bin/env bash
# Counts the instructions `detect` runs on a 300 MB log of the large
# cluster's shape, for each git revision given (default HEAD), under
# valgrind's cachegrind. This project's machine is a shared VM whose speed
# changes by half between minutes; instruction counts do not, so they tell
# whether a change to the scanner or the rules made it cheaper:
#
#	./hack/instructions.sh ea3852d HEAD
#
# prints per revision the instructions with and without the collector's own
# functions (which vary between runs by a few %; the rest repeats within
# 0.6%). Two workers run on one thread (GOMAXPROCS=1): valgrind serializes
# threads anyway, and spinning schedulers would count. Cache misses are not
# the measure: cachegrind simulates a 2 MB last-level cache, which holds
# what misses on the real machine. Needs valgrind (apt-get install
# valgrind); each revision takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
SIZE=300MB
# shellcheck source=hack/bench-corpora.sh
. ./hack/bench-corpora.sh
[ $# -gt 0 ] || set -- HEAD
work=$(mktemp -d)
trap 'git worktree remove --force "$work/tree" 2>/dev/null || true; rm -rf "$work"' EXIT
for rev in "$@"; do
	git worktree remove --force "$work/tree" 2>/dev/null || true
	git worktree add -q --detach "$work/tree" "$rev"
	# Symbols kept (no -s -w): the profile names functions.
	(cd "$work/tree" && CGO_ENABLED=0 go build -trimpath -o "$work/bin" ./cmd/kubectl-audit)
	GOMAXPROCS=1 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$work/out" \
		"$work/bin" detect -q --no-link -o json --workers 2 -f "$LARGE" >/dev/null 2>&1
	cg_annotate --show=Ir "$work/out" | sed -n '/file:function/,$p' | sed -n '3,$p' | awk -v rev="$rev" '
		{ gsub(",", "", $1); if ($1 !~ /^[0-9]+$/) next; total += $1
		  if ($NF ~ /runtime\/(mgc|mwbbuf|mbitmap|mheap|mbarrier|mspanset|mcentral|mcache)|gcWriteBarrier|bulkBarrier|findObject|scanobject|greyobject|gcDrain|markBits|wbBuf|tryDefer/) gc += $1 }
		END { printf "%-12s %7.0f M instructions, %7.0f M without the collector\n", rev, total/1e6, (total-gc)/1e6 }'
done
