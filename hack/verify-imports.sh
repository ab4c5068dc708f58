#!/usr/bin/env bash
# Checks that imports between this module's packages run one way:
#
#   cmd → install → schedule → notify → top, why, policy, cluster, report, detectors/ruletest → detectors → rules, sources → audit
#
# Each package below may import only the module packages its line allows
# (tests included: a test must not reach above its package either, except
# where a line says so). A new package must get a line here: unknown packages
# fail the check, so the map in README.md's Layout stays true.
set -euo pipefail
set -f # the lines hold "*"
cd "$(dirname "$0")/.."
M=github.com/kubectl-audit/kubectl-audit

# package: allowed module imports (prefix match on "pkg" or "pkg/...")
declare -A allow=(
	[audit]=""
	[corpus]=""
	[report/chart]=""
	[rules]="audit"
	[rules/builtin]="rules"
	[sources]="audit sources/"
	[sources/*]=""
	[cluster/apiserverlog]="audit"
	[detectors]="rules audit"
	[top]="audit"
	[policy]="audit rules rules/builtin sources"
	[why]="audit"
	[cluster]="cluster/apiserverlog detectors why rules audit"
	[report]="detectors rules audit report/"
	[report/*]="detectors rules audit"
	[detectors/ruletest]="detectors sources rules audit"
	[notify]="detectors cluster rules report/sarif audit"
	[schedule]="detectors notify cluster rules sources sources/ audit"
	[install]="schedule notify"
	[cmd]="*"
	[cmd/kubectl-audit]="cmd"
	[cmd/audit-corpus]="corpus"
	[hack/*]="*"
)
# Test-only edges that are allowed beyond the lines above (tests that run
# the layer above on purpose).
declare -A allow_test=(
	[detectors]="detectors/ruletest sources corpus top rules/builtin"
	[sources]="corpus"
	[top]="sources corpus"
	[why]="sources"
	[rules]="rules/builtin"
	[detectors/ruletest]="rules/builtin"
	[cluster]="sources"
	[cluster/apiserverlog]="sources"
)

rule_for() { # package -> the key of its line
	local p=$1
	if [[ -v "allow[$p]" ]]; then echo "$p"; return; fi
	local parent=${p%/*}
	while [[ "$parent" != "$p" ]]; do
		if [[ -v "allow[$parent/*]" ]]; then echo "$parent/*"; return; fi
		p=$parent; parent=${p%/*}
	done
	echo ""
}

allowed() { # list, import -> 0 if allowed
	local list=$1 imp=$2 a
	for a in $list; do
		[[ "$a" == "*" ]] && return 0
		if [[ "$a" == */ ]]; then [[ "$imp" == "$a"* ]] && return 0; continue; fi
		[[ "$imp" == "$a" ]] && return 0
	done
	return 1
}

fail=0
while read -r pkg imports; do
	rel=${pkg#"$M"}; rel=${rel#/}
	[[ -z "$rel" ]] && continue
	key=$(rule_for "$rel")
	if [[ -z "$key" ]]; then
		echo "verify-imports: $rel has no line in hack/verify-imports.sh: say where it sits in the layout"
		fail=1; continue
	fi
	for kind in prod test; do
		list=${allow[$key]}
		[[ $kind == test ]] && list="$list ${allow_test[$key]:-} $rel"
		for imp in $(echo "$imports" | tr ' ' '\n' | awk -v k="$kind" -F'@' '$1==k {print $2}'); do
			[[ "$imp" == "$M"* ]] || continue
			i=${imp#"$M"/}
			if ! allowed "$list" "$i"; then
				where=""; [[ $kind == test ]] && where=" in a test"
				echo "verify-imports: $rel imports $i$where: not allowed by its line ($key: ${allow[$key]:-nothing})"
				fail=1
			fi
		done
	done
done < <(go list -f '{{.ImportPath}} {{range .Imports}}prod@{{.}} {{end}}{{range .TestImports}}test@{{.}} {{end}}{{range .XTestImports}}test@{{.}} {{end}}' ./...)

if [[ $fail != 0 ]]; then exit 1; fi
echo "imports run one way: cmd → capabilities → detectors → rules, sources → audit"
