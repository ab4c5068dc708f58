// Package nodes finds and streams the audit logs of control-plane nodes through the API server's node proxy.
// It must not import any package of this module: the reading path adapts its File to an input.
package nodes
