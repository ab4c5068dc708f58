// Package policy reads kube-apiserver audit policies and says what they do:
// Parse decodes a policy file with the apiserver's own types
// (k8s.io/apiserver/pkg/apis/audit and its v1 version, strictly, with
// file:line:col errors found by a walk of the YAML nodes, since the
// apiserver's decoder keeps no positions); Lint checks it for the traps of
// audit policies (shadowed rules, payload levels on secrets and tokens, no
// catch-all, resources in the wrong group, RequestReceived logged, lists
// at RequestResponse, health probes logged, managed fields kept) and for
// the shipped detect rules it would blind; a Simulator evaluates it with
// kube-apiserver's own policy rule evaluator
// (k8s.io/apiserver/pkg/audit/policy) against every event of a log and
// says what it would cost next to what the log cost.
//
// It imports audit, rules, rules/builtin and sources of this module, and
// k8s.io/apiserver; never cmd, detectors, top, why, cluster or report.
package policy
