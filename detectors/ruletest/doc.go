// Package ruletest runs promtool-style rule tests: a test file names rule
// files, and each test gives inputs (audit log files, or inline events
// written in a short form) and the exact set of findings each rule must
// produce, [] meaning the rule must not fire.
//
//	rule_files: [talk.yaml]        # default: the test file without _test
//	tests:
//	  - name: four kubelets with expired certificates
//	    start: 2026-11-24T10:00:00Z  # time of "at: 0s" (this is the default)
//	    inputs: [testdata/x.log]     # relative to the test file
//	    events:
//	      - {at: 0s, repeat: 12, every: 1s, code: 401, sourceIPs: [127.0.1.1], verb: get}
//	    expect:
//	      failed-authentication:
//	        - key: {sourceIP: 127.0.1.1, userAgent: ""}
//	          count: 12
//	      rbac-denied: []
//
// An inline event is an audit event in YAML, with defaults for what it
// leaves out (kind, apiVersion, level Metadata, stage ResponseComplete, a
// fixed auditID, times from at/every, requestURI from objectRef; a
// long-running request given no stage is written twice, ResponseStarted
// then ResponseComplete, as kube-apiserver does) and a few
// short forms: user: NAME, sourceIPs: IP, code/reason/message (the
// responseStatus), decision/authzReason (the authorization annotations),
// latency (stageTimestamp - requestReceivedTimestamp).
//
// It imports detectors, sources, rules and audit: it sits above the runtime
// it drives, below cmd.
package ruletest
