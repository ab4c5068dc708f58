// Package builtin holds the shipped detect rules, embedded in the binary,
// each file with its promtool-style tests beside it (name_test.yaml); the Go
// test that runs those tests is in detectors/ruletest.
//
// It imports rules only.
package builtin
