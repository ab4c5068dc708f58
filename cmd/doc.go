// Package cmd wires the kubectl audit commands: cobra and cli-runtime
// flags become typed options, a call into the packages that do the work
// (sources, top, why, detectors, cluster, report), and printed results.
//
// It holds no per-event code and no analysis; nothing imports it but main.
package cmd
