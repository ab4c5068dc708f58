#!/usr/bin/env bash
# Runs the end-to-end tests: a real etcd + kube-apiserver +
# kube-controller-manager on loopback, the staged incidents, and checks on
# the audit log the apiserver wrote. CI calls this after the unit tests.
#
# The first run on a machine builds the binaries (~5-25 min on 2 cores,
# cached in ${KUBECTL_AUDIT_E2E_CACHE:-~/.cache/kubectl-audit-e2e}); later
# runs take about two minutes.
#
#   KUBECTL_AUDIT_E2E_SKIP=1       skip the tests (they say so; never silent)
#   KUBECTL_AUDIT_E2E_ARTIFACTS=d  keep the audit and component logs in d
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

start=$SECONDS
# Build outside `go test`, whose per-binary timeout a cold build could hit.
go run ./cmd/buildbins >/dev/null
go run ./cmd/buildbins -kubectl >/dev/null # the fetch-speed test and the release test use it
echo "e2e: binaries ready in $((SECONDS - start))s"

go test -count=1 -timeout 30m "$@" ./...
echo "e2e: done in $((SECONDS - start))s"
