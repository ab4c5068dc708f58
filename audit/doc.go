// Package audit is the audit event as kubectl audit sees it: an
// allocation-free view over one serialized event (event.go, scan.go), the
// decoding of every envelope an event arrives in (plain lines, EventList
// batches, EKS CloudWatch exports, AKS diagnostic records, GKE Cloud Audit
// Logs entries, docker json-file lines: decode.go, gke.go), identities
// (identity.go), and the expression environment rules and --where filters
// run against (exprenv.go, exprfuncs.go).
//
// It does no file or network I/O and imports no package of this module.
package audit
