// Package apiserverlog reads kube-apiserver's own log (klog text) for what
// the audit log cannot say: why a request failed authentication. A 401
// audit event has no user and no reason; kube-apiserver logs the reason as
//
//	E1125 05:42:34.854030 28714 authentication.go:76] "Unable to authenticate the request" err="... x509: certificate has expired ..."
//
// and, at -v=3 and above, one "HTTP" line per request with its audit-ID
// right after it. A 401 is joined to its reason by audit-ID when the log has
// the HTTP lines, else to the failure logged within a few milliseconds of
// the audit event's stage time.
//
// It imports no package of this module.
package apiserverlog
