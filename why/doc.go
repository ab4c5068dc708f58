// Package why tells the story of one object from the audit log, for
// kubectl audit why: every call that changed it (who, from where, with what
// client, why it was allowed, which webhooks touched it, and what changed),
// in time order, optionally with its owners' and owned objects' calls.
//
// It imports audit only; reading is the caller's (sources.Read).
package why
