#!/usr/bin/env bash
# Regenerates cmd/kubectl-audit/default.pgo, the CPU profile that `go build`
# of the plugin uses for profile-guided optimization (-pgo=auto, the default:
# the release, go install and the e2e builds all pick it up). It profiles
# the work the plugin's users wait for: `top --by user` and `detect` with
# every shipped rule, on the project's corpus and on the large-cluster
# shape, plain and gzip, and merges the profiles.
#
#   ./hack/pgo.sh [SIZE]       # SIZE defaults to 1GB
#
# Rerun it when the hot path changes (audit's scanner, sources' reader,
# detectors' engine, top's aggregator); a stale profile costs speed, never
# correctness. Corpora go to ${BENCH_DIR:-/tmp/kubectl-audit-bench}.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1GB}
# shellcheck source=hack/bench-corpora.sh
. ./hack/bench-corpora.sh
mkdir -p "$DIR/pgo"
rm -f "$DIR"/pgo/*.prof
BIN="$DIR/kubectl-audit-pgo"
CGO_ENABLED=0 go build -trimpath -o "$BIN" ./cmd/kubectl-audit
n=0
for f in "$PROJECT" "$LARGE"; do
	for work in "top --by user" "detect"; do
		n=$((n + 1))
		# shellcheck disable=SC2086 # work is two words on purpose
		"$BIN" $work -q --no-link -o json -f "$f" --profile cpu --profile-output "$DIR/pgo/$n.prof" > /dev/null
	done
done
"$BIN" top --by user -q -o json -f "$PROJECT.gz" --profile cpu --profile-output "$DIR/pgo/gz.prof" > /dev/null
go tool pprof -proto "$DIR"/pgo/*.prof > cmd/kubectl-audit/default.pgo
echo "wrote cmd/kubectl-audit/default.pgo ($(wc -c < cmd/kubectl-audit/default.pgo) bytes) from $(ls "$DIR"/pgo/*.prof | wc -l) profiles"
