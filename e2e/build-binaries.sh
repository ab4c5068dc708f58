#!/usr/bin/env bash
# Builds the e2e control-plane binaries into the cache if they are missing
# and prints their paths. The logic lives in ./binaries (Go), shared with
# the tests, which also build on demand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec go run ./cmd/buildbins "$@"
