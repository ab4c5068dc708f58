// Package detectors is the windowed rule runtime of kubectl audit detect:
// each worker's Sink matches events against the rules an index of their
// prefilters admits (index.go), folds them into per-window groups
// (state.go), and hands windows that time has passed to the Engine, which
// merges the workers' parts, evaluates when over each group with peers.*
// across the window's groups (eval.go) and keeps the findings. Results do
// not depend on the number of workers.
//
// It imports rules (the compiled form it runs) and audit; never sources,
// top, why, cluster, report or cmd.
package detectors
