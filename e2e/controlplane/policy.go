package controlplane

// AuditPolicy is the policy the talk recommends: skip RequestReceived (every
// request would otherwise be logged twice), drop health and metrics probes,
// keep full bodies only for the writes worth replaying (pods, deployments),
// never log secret or configmap bodies, and Metadata for everything else.
//
// Rules match main resources only: "pods" does not match "pods/status" or
// "pods/binding", and "deployments" does not match "deployments/scale", so
// those are logged at Metadata by the last rule.
const AuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  - level: None
    nonResourceURLs:
      - /healthz*
      - /livez*
      - /readyz*
      - /version
      - /metrics
  - level: RequestResponse
    verbs: ["create", "update", "patch", "delete"]
    resources:
      - group: ""
        resources: ["pods"]
      - group: apps
        resources: ["deployments"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps"]
      - group: authentication.k8s.io
        resources: ["tokenreviews"]
  - level: Metadata
`
