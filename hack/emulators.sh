#!/usr/bin/env bash
# Installs the storage and log-service emulators the tests of sources/bucket
# and sources/cloudwatch start by themselves, into a cache keyed by version,
# and prints the environment variables those tests read. A second run finds
# everything cached and takes well under a second.
#
#   - moto_server (Python package moto) for S3 and CloudWatch Logs: not
#     installed here (the machines have it); its absence is reported with how
#     to get it.
#   - Azurite (npm package azurite) for Azure Blob Storage.
#   - fake-gcs-server (Go module github.com/fsouza/fake-gcs-server) for Cloud
#     Storage, built once with the Go toolchain.
#
# Usage: eval "$(hack/emulators.sh)"   then   go test ./sources/...
# Progress and errors go to stderr; only the export lines go to stdout.
set -euo pipefail

AZURITE_VERSION=3.37.0
FAKE_GCS_VERSION=v1.56.1
CACHE="${KUBECTL_AUDIT_EMULATORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-audit-emulators}"
mkdir -p "$CACHE"

log() { echo "emulators: $*" >&2; }

# Azurite: npm install into a version-keyed prefix.
azurite_dir="$CACHE/azurite-$AZURITE_VERSION"
azurite_bin="$azurite_dir/node_modules/.bin/azurite-blob"
if [ ! -x "$azurite_bin" ]; then
	if ! command -v npm > /dev/null; then
		log "npm not found: install Node.js (apt-get install nodejs npm) to test against Azurite"
		exit 1
	fi
	log "installing azurite@$AZURITE_VERSION into $azurite_dir"
	tmp="$azurite_dir.tmp.$$"
	rm -rf "$tmp" && mkdir -p "$tmp"
	(cd "$tmp" && npm install --no-audit --no-fund --loglevel=error --prefix "$tmp" "azurite@$AZURITE_VERSION" >&2)
	rm -rf "$azurite_dir" && mv "$tmp" "$azurite_dir"
fi

# fake-gcs-server: go install into a version-keyed directory, outside this
# module (its dependencies never enter go.mod).
gcs_dir="$CACHE/fake-gcs-server-$FAKE_GCS_VERSION"
gcs_bin="$gcs_dir/fake-gcs-server"
if [ ! -x "$gcs_bin" ]; then
	log "building github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION into $gcs_dir (a few minutes on 2 cores)"
	mkdir -p "$gcs_dir"
	(cd "$gcs_dir" && GOFLAGS=-mod=mod GOBIN="$gcs_dir" go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" >&2)
fi

# moto: reported, not installed.
moto_bin="$(command -v moto_server || true)"
if [ -z "$moto_bin" ]; then
	log "moto_server not found: install it with: pip install 'moto[server]' (S3 and CloudWatch Logs tests need it)"
	exit 1
fi

echo "export KUBECTL_AUDIT_AZURITE=$azurite_bin"
echo "export KUBECTL_AUDIT_FAKE_GCS=$gcs_bin"
echo "export KUBECTL_AUDIT_MOTO=$moto_bin"
