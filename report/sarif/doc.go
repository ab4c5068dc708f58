// Package sarif writes detect's findings as SARIF 2.1.0, for code-scanning
// tools (GitHub code scanning, DefectDojo) that track findings across runs.
//
// It imports detectors, rules and audit only.
package sarif
