// Package bucket reads audit logs from buckets (s3://, gs://, azblob://, file://) laid out by the providers' log exports, pruned by the time in the key, cached, and unwrapped from their envelopes into one audit event per line.
// It imports no package of this module: callers wrap its Objects as their own inputs.
package bucket
