# Sourced by hack/bench.sh and hack/pgo.sh (with SIZE set): sets DIR to
# ${BENCH_DIR:-/tmp/kubectl-audit-bench}, builds the corpus generator there
# and sets PROJECT and LARGE to the project's corpus and the large-cluster
# shape of SIZE in DIR, writing them once, and PROJECT.gz beside.
DIR=${BENCH_DIR:-/tmp/kubectl-audit-bench}
mkdir -p "$DIR"
go build -o "$DIR/audit-corpus" ./cmd/audit-corpus
corpus() { # name, args... -> path
	local path="$DIR/$1-$SIZE.log"; shift
	[ -f "$path" ] || "$DIR/audit-corpus" -size "$SIZE" -o "$path" "$@" 2>/dev/null
	echo "$path"
}
PROJECT=$(corpus project)
LARGE=$(corpus large -shape large)
[ -f "$PROJECT.gz" ] || gzip -1 -c "$PROJECT" > "$PROJECT.gz"
