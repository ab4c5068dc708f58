// Package top aggregates audit events by keys (user, resource, code, ...):
// counts, rps, share, errors, latency percentiles, latency breakdown and time
// series. It answers "who is doing what to the API server".
//
// It imports audit only; reading is the caller's (sources.Read).
package top
