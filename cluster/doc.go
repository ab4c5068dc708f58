// Package cluster ties what the audit log names (source IPs, users, objects,
// RBAC bindings, webhooks) to the live objects behind them. Every lookup is
// answered from lists made once per resource type per run and cached, never
// a get per finding; without a cluster, without permission, or on a timeout
// the answer is a Link marked "not linked" with the reason, never an error
// that stops the command.
//
// It imports client-go and, from this module, detectors, rules and audit;
// never sources, top, why's printers, report or cmd.
package cluster
