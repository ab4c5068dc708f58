#!/usr/bin/env bash
# Tests the release the way users install it: GoReleaser's snapshot archives,
# the krew manifest written from krew/audit.yaml, a real krew installing the
# plugin into a temporary KREW_ROOT and a real kubectl running it as
# `kubectl audit` (and completing it through kubectl_complete-audit), then
# krew uninstalling it. Also checks that a `go install` build says `dev` and
# its VCS revision.
#
#   hack/release-test.sh                 linux/amd64 archive only
#   hack/release-test.sh --all-targets   all five archives (the krew install
#                                        still uses linux/amd64)
#   hack/release-test.sh --dist DIR      keep GoReleaser's output in DIR
#
# Tools are built from the Go module proxy once, pinned, into
# ${KUBECTL_AUDIT_RELEASE_CACHE:-~/.cache/kubectl-audit-release}/<tool>-<version>/;
# kubectl (k8s.io/kubernetes v1.37.2, the e2e module's) into the e2e cache
# (e2e/binaries). Needs linux/amd64, like CI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

GORELEASER_VERSION=v2.15.1
KREW_VERSION=v0.4.3

usage() { sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0"; }
all_targets=0
dist=
while [ $# -gt 0 ]; do
	case $1 in
	--all-targets) all_targets=1 ;;
	--dist) [ $# -ge 2 ] || { echo "release-test: --dist needs a directory" >&2; exit 1; }; dist=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "release-test: unknown argument $1 (see --help)" >&2; exit 1 ;;
	esac
	shift
done
if [ "$(go env GOOS)/$(go env GOARCH)" != linux/amd64 ]; then
	echo "release-test: runs on linux/amd64 only (it installs and runs the linux_amd64 archive)" >&2
	exit 1
fi

start=$SECONDS
step() { echo "== $* [$((SECONDS - start))s]"; }
fail() { echo "release-test: FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-audit-release.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dist=${dist:-$tmp/dist}
case $dist in /*) ;; *) dist=$root/$dist ;; esac

cache=${KUBECTL_AUDIT_RELEASE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-audit-release}
# install_tool NAME VERSION PACKAGE...: go install the packages at VERSION
# into $cache/NAME-VERSION/ unless every binary is there already.
install_tool() {
	local name=$1 version=$2 dir="$cache/$1-$2"
	shift 2
	local pkg bin missing=0
	for pkg; do
		bin=$(basename "$pkg")
		[[ $bin =~ ^v[0-9]+$ ]] && bin=$(basename "$(dirname "$pkg")") # a major-version suffix
		[ -x "$dir/$bin" ] || missing=1
	done
	[ $missing = 0 ] && return
	echo "building $name $version into $dir (once per machine)"
	rm -rf "$dir.tmp.$$"
	local args=()
	for pkg; do args+=("$pkg@$version"); done
	GOBIN="$dir.tmp.$$" CGO_ENABLED=0 go install "${args[@]}"
	rm -rf "$dir" && mv "$dir.tmp.$$" "$dir"
}

step "tools: goreleaser $GORELEASER_VERSION, krew $KREW_VERSION, kubectl (e2e module)"
install_tool goreleaser "$GORELEASER_VERSION" github.com/goreleaser/goreleaser/v2
install_tool krew "$KREW_VERSION" sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest
goreleaser=$cache/goreleaser-$GORELEASER_VERSION/goreleaser
krew=$cache/krew-$KREW_VERSION/krew
validate=$cache/krew-$KREW_VERSION/validate-krew-manifest
kubectl=$(cd e2e && go run ./cmd/buildbins -kubectl)
[ -x "$kubectl" ] || fail "no kubectl at $kubectl"

step "goreleaser check"
"$goreleaser" check

# GoReleaser runs on a copy of the configuration: with its output in $dist and,
# unless --all-targets, linux_amd64 alone.
config=$tmp/goreleaser.yaml
if [ $all_targets = 1 ]; then
	cp .goreleaser.yaml "$config"
	want_platforms="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
else
	sed 's/^\( *targets:\).*/\1 [linux_amd64_v1]/' .goreleaser.yaml > "$config"
	grep -q '^ *targets: \[linux_amd64_v1\]$' "$config" || fail ".goreleaser.yaml has no one-line targets: list to narrow"
	want_platforms="linux/amd64"
fi
printf 'dist: %s\n' "$dist" >> "$config"

step "goreleaser release --snapshot --clean ($want_platforms)"
# Without a git remote GoReleaser drops the whole git state (commit "none"):
# give it the project's, in this process's git configuration only.
git_remote=()
[ -n "$(git remote)" ] || git_remote=(GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/kubectl-audit/kubectl-audit.git)
if ! env "${git_remote[@]}" "$goreleaser" release --snapshot --clean --config "$config" > "$tmp/goreleaser.log" 2>&1; then
	cat "$tmp/goreleaser.log"
	fail "goreleaser release --snapshot failed"
fi
json_field() { sed -n 's/.*"'"$1"'": *"\([^"]*\)".*/\1/p' "$dist/metadata.json"; }
version=$(json_field version)
tag=$(json_field tag)
commit=$(json_field commit) # HEAD as GoReleaser saw it
[ -n "$version" ] && [ -n "$tag" ] || fail "no version or tag in $dist/metadata.json"
[[ $commit =~ ^[0-9a-f]{40}$ ]] && git cat-file -e "$commit^{commit}" || fail "GoReleaser's commit is not one of this repository: $commit"
echo "snapshot $version (tag $tag)"

step "archives: contents, checksums"
n=0
for p in $want_platforms; do
	os=${p%/*} arch=${p#*/}
	ext=tar.gz exe= comp=kubectl_complete-audit
	[ "$os" = windows ] && ext=zip exe=.exe comp=kubectl_complete-audit.cmd
	a=$dist/kubectl-audit_${version}_${os}_${arch}.$ext
	[ -f "$a" ] || fail "no archive $a"
	n=$((n + 1))
	if [ $ext = tar.gz ]; then
		list=$(tar -tzf "$a" | sort | tr '\n' ' ')
	else
		list=$(python3 -c 'import sys, zipfile; print(" ".join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))' "$a")" "
	fi
	[ "$list" = "LICENSE README.md kubectl-audit$exe $comp " ] || fail "$(basename "$a") holds: $list"
	grep -q "  $(basename "$a")\$" "$dist/checksums.txt" || fail "$(basename "$a") is not in checksums.txt"
done
[ "$(grep -c '\.\(tar\.gz\|zip\)$' "$dist/checksums.txt")" = $n ] || fail "checksums.txt lists other archives than the $n made: $(cat "$dist/checksums.txt")"
(cd "$dist" && sha256sum --quiet --strict -c checksums.txt) || fail "checksums.txt does not match the archives"
archive=$dist/kubectl-audit_${version}_linux_amd64.tar.gz
mkdir "$tmp/unpacked"
tar -xzf "$archive" -C "$tmp/unpacked"
cmp -s LICENSE "$tmp/unpacked/LICENSE" || fail "the archive's LICENSE is not the repository's"
[ -x "$tmp/unpacked/kubectl_complete-audit" ] || fail "kubectl_complete-audit is not executable in the archive"

step "version stamped by ldflags"
commit_date=$(TZ=UTC git log -1 "$commit" --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd)
got=$("$tmp/unpacked/kubectl-audit" version -o json)
for want in "\"version\": \"$version\"" "\"commit\": \"$commit\"" "\"date\": \"$commit_date\""; do
	grep -qF "$want" <<< "$got" || fail "kubectl-audit version -o json lacks $want: $got"
done
echo "$("$tmp/unpacked/kubectl-audit" version)"

step "go install build: dev and the VCS revision"
# -trimpath and no cgo, as GoReleaser built: only the link is new.
GOBIN=$tmp/gobin GOFLAGS=-buildvcs=true CGO_ENABLED=0 go install -trimpath ./cmd/kubectl-audit
got=$("$tmp/gobin/kubectl-audit" version -o json)
want_version=dev
if exact=$(git describe --tags --exact-match --match 'v[0-9]*' 2> /dev/null) && git diff --quiet HEAD; then
	want_version=$exact
fi
for want in "\"version\": \"$want_version\"" "\"commit\": \"$(git rev-parse HEAD)\""; do
	grep -qF "$want" <<< "$got" || fail "a go install build's version -o json lacks $want: $got"
done
echo "$("$tmp/gobin/kubectl-audit" version)"

step "krew manifest: written from krew/audit.yaml, validated, URIs and sha256 of the archives"
partial=
[ $all_targets = 1 ] || partial=-partial
go run ./hack/krew-manifest -dist "$dist" $partial
manifest=$dist/krew/audit.yaml
"$validate" -manifest "$manifest" -skip-install > "$tmp/validate.log" 2>&1 || { cat "$tmp/validate.log"; fail "validate-krew-manifest rejects $manifest"; }
grep -q '^  version: v'"$version"'$' "$manifest" || fail "$manifest is not of version v$version"
pairs=$(awk '
	/^  - / { if (u != "") print u, s; u = s = "" }
	/^ *(- )?uri: / { u = $NF }
	/^ *(- )?sha256: / { s = $NF; gsub(/"/, "", s) }
	END { if (u != "") print u, s }' "$manifest")
[ "$(wc -l <<< "$pairs")" = $n ] || fail "$manifest has not $n platforms: $pairs"
while read -r uri sum; do
	name=${uri##*/}
	[ "$uri" = "https://github.com/kubectl-audit/kubectl-audit/releases/download/$tag/$name" ] || fail "uri $uri is not the release's"
	[ -f "$dist/$name" ] || fail "uri $uri names no archive of $dist"
	[ "$(sha256sum "$dist/$name" | cut -d' ' -f1)" = "$sum" ] || fail "sha256 of $name is not $sum"
	grep -q "^$sum  $name\$" "$dist/checksums.txt" || fail "checksums.txt disagrees with the manifest on $name"
	grep -q "^ *- from: kubectl_complete-audit" "$manifest" || fail "$manifest does not install kubectl_complete-audit"
done <<< "$pairs"

step "krew $KREW_VERSION installs it; kubectl v1.37.2 runs it"
export KREW_ROOT=$tmp/krew KREW_NO_UPGRADE_CHECK=1 KUBECONFIG=$tmp/no-kubeconfig
mkdir -p "$tmp/bin"
ln -s "$kubectl" "$tmp/bin/kubectl"
ln -s "$krew" "$tmp/bin/kubectl-krew"
# Only this run's plugins and tools: no kubectl-audit from elsewhere.
PATH=$KREW_ROOT/bin:$tmp/bin:/usr/bin:/bin
# A user's krew has the default index cloned (krew-index); `krew uninstall`
# insists on one. An empty git repository stands in for it: no network.
git init -q "$KREW_ROOT/index/default"
kubectl krew install --manifest="$manifest" --archive="$archive" > "$tmp/krew.log" 2>&1 || { cat "$tmp/krew.log"; fail "kubectl krew install failed"; }
[ -L "$KREW_ROOT/bin/kubectl-audit" ] || fail "krew linked no $KREW_ROOT/bin/kubectl-audit"
store=$(dirname "$(readlink -f "$KREW_ROOT/bin/kubectl-audit")")
for f in kubectl-audit kubectl_complete-audit LICENSE; do
	[ -f "$store/$f" ] || fail "krew did not install $f into $store"
done

out=$(kubectl plugin list 2>&1) || fail "kubectl plugin list: $out"
grep -qx "$KREW_ROOT/bin/kubectl-audit" <<< "$out" || fail "kubectl plugin list does not list kubectl-audit: $out"
out=$(kubectl audit version)
grep -q "^kubectl audit $version (commit $commit," <<< "$out" || fail "kubectl audit version: $out"
echo "$out"
out=$(kubectl audit detect -f examples/audit.log.gz 2> "$tmp/detect.err") || { cat "$tmp/detect.err"; fail "kubectl audit detect failed"; }
for rule in failed-authentication rbac-denied controller-invalid-update-loop node-request-rate-outlier; do
	grep -q "$rule" <<< "$out" || fail "kubectl audit detect -f examples/audit.log.gz found no $rule: $out"
done
echo "kubectl audit detect: $(grep -c . <<< "$out") lines, with failed-authentication, rbac-denied, controller-invalid-update-loop, node-request-rate-outlier"

step "completion through kubectl"
# candidates VALUE: whether $out (cobra's __complete output) offers VALUE.
candidates() { cut -f1 <<< "$out" | grep -qx "$1"; }
out=$(kubectl audit __complete detect --rule fail 2> /dev/null)
candidates failed-authentication || fail "kubectl audit __complete detect --rule fail: $out"
# kubectl's own completion of plugins runs kubectl_complete-audit from the
# PATH; krew links only the plugin, so the link the README documents goes first.
out=$(kubectl __complete audit detect --rule fail 2> /dev/null)
! candidates failed-authentication || fail "kubectl completed the plugin without kubectl_complete-audit on the PATH: $out"
ln -sf "$(dirname "$(readlink -f "$(command -v kubectl-audit)")")/kubectl_complete-audit" "${KREW_ROOT:-$HOME/.krew}/bin/"
out=$(kubectl __complete audit detect --rule fail 2> /dev/null)
candidates failed-authentication || fail "kubectl __complete audit detect --rule fail (kubectl_complete-audit): $out"
out=$(kubectl __complete audit detect -o "" 2> /dev/null)
candidates sarif || fail "kubectl __complete audit detect -o '': $out"
rm "$KREW_ROOT/bin/kubectl_complete-audit"

step "kubectl krew uninstall audit"
kubectl krew uninstall audit > "$tmp/krew.log" 2>&1 || { cat "$tmp/krew.log"; fail "kubectl krew uninstall audit failed"; }
[ ! -e "$KREW_ROOT/bin/kubectl-audit" ] && [ ! -e "$store" ] || fail "krew left the plugin behind: $(ls -R "$KREW_ROOT")"
if out=$(kubectl plugin list 2>&1); then
	! grep -q '/kubectl-audit$' <<< "$out" || fail "kubectl plugin list still lists kubectl-audit: $out"
fi
step "release test passed"
