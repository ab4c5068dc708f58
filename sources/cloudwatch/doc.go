// Package cloudwatch reads EKS audit logs straight from a CloudWatch Logs log group (the kube-apiserver-audit-* streams) with FilterLogEvents, one audit event per line.
// It imports no package of this module: callers wrap its Objects as their own inputs.
package cloudwatch
