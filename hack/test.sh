#!/usr/bin/env bash
# Runs every test of the project: formatting, go vet, the import order,
# golangci-lint, the unit and golden tests (with every shipped rule's tests,
# and the bucket and CloudWatch sources against their emulators), the race
# detector, the end-to-end suite against a real kube-apiserver (HA, node
# proxy, live links), and the release: goreleaser snapshot, a real krew and
# kubectl installing and running the plugin.
# Installs what it needs (golangci-lint from the Go module proxy; the e2e
# binaries are built once per machine and cached by version).
#
# KUBECTL_AUDIT_E2E_SKIP=1 skips the end-to-end suite (quick local runs only).
set -euo pipefail
cd "$(dirname "$0")/.."
GOLANGCI_LINT_VERSION=v2.15.0
export PATH="$(go env GOPATH)/bin:$PATH"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "not gofmt'ed:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== import order (hack/verify-imports.sh)"
./hack/verify-imports.sh

echo "== golangci-lint $GOLANGCI_LINT_VERSION"
if ! golangci-lint version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v}"; then
	go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi
golangci-lint run ./...

echo "== krew manifest (validate-krew-manifest from krew v0.4.3)"
if ! command -v validate-krew-manifest > /dev/null; then
	go install sigs.k8s.io/krew/cmd/validate-krew-manifest@v0.4.3
fi
validate-krew-manifest -manifest krew/audit.yaml -skip-install 2>&1 | grep -E "validation OK|F[0-9]{4}" || { echo "krew/audit.yaml is not a valid krew manifest"; exit 1; }
validate-krew-manifest -manifest krew/audit.yaml -skip-install > /dev/null 2>&1

echo "== emulators for the bucket and CloudWatch sources (hack/emulators.sh, cached by version)"
eval "$(./hack/emulators.sh)"

echo "== unit tests"
go test -count=1 ./...

echo "== race detector (reading path, commands, rules)"
go test -race -count=1 ./audit/... ./sources/ ./detectors/... ./top/... ./why/... ./cmd/ ./rules/...

if [ "${KUBECTL_AUDIT_E2E_SKIP:-}" = "1" ]; then
	echo "== e2e SKIPPED (KUBECTL_AUDIT_E2E_SKIP=1)"
else
	echo "== e2e (real kube-apiserver)"
	./e2e/run.sh
fi

echo "== release: goreleaser snapshot, krew manifest, krew install, kubectl audit (hack/release-test.sh)"
./hack/release-test.sh
