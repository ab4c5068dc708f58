// Package rules is the detect rule format: strict YAML with file:line:col
// errors, expressions compiled and type-checked once with expr against the
// event view (audit.ExprEnv) and the group view, and the prefilters the
// runtime indexes rules by. It evaluates nothing per event itself: the
// runtime is package detectors, the test runner detectors/ruletest.
//
// It imports audit only (so it links no reader and no decompressor).
package rules
