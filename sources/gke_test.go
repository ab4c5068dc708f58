package sources_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/kubectl-audit/kubectl-audit/audit"
	"io"
	"testing"

	"github.com/kubectl-audit/kubectl-audit/sources"
)

// Cloud Logging exports of GKE's Kubernetes audit logs (data_access and
// activity), as LogEntry JSON lines.
const gkeEntries = `{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"system:serviceaccount:ingress:traefik"},"authorizationInfo":[{"granted":false,"permission":"io.k8s.core.v1.secrets.list","resource":"core/v1/secrets"}],"methodName":"io.k8s.core.v1.secrets.list","requestMetadata":{"callerIp":"10.8.0.12","callerSuppliedUserAgent":"traefik/v3.2.0 (linux/amd64) kubernetes/crd"},"resourceName":"core/v1/secrets","serviceName":"k8s.io","status":{"code":7,"message":"PERMISSION_DENIED"}},"insertId":"a1b2c3","resource":{"type":"k8s_cluster","labels":{"cluster_name":"prod","location":"europe-west1","project_id":"shop"}},"timestamp":"2026-11-24T10:00:01.123456Z","labels":{"authorization.k8s.io/decision":"forbid","authorization.k8s.io/reason":""},"logName":"projects/shop/logs/cloudaudit.googleapis.com%2Fdata_access","operation":{"id":"0f3c9e2a-1111-4a5b-9c8d-2e1f0a9b8c7d","producer":"k8s.io","first":true,"last":true},"receiveTimestamp":"2026-11-24T10:00:02Z"}
{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"alice@example.com"},"methodName":"io.k8s.apps.v1.deployments.scale.patch","requestMetadata":{"callerIp":"203.0.113.7","callerSuppliedUserAgent":"kubectl/v1.37.2 (darwin/arm64) kubernetes/0b0c6a3"},"resourceName":"apps/v1/namespaces/shop/deployments/checkout/scale","serviceName":"k8s.io","request":{"spec":{"replicas":3}}},"insertId":"d4e5f6","timestamp":"2026-11-24T10:00:02Z","labels":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"dev/shop\" of ClusterRole \"edit\" to User \"alice@example.com\""},"operation":{"id":"22222222-3333-4444-5555-666666666666","producer":"k8s.io"}}
{"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","methodName":"google.container.v1.ClusterManager.GetCluster","serviceName":"container.googleapis.com"},"insertId":"x","timestamp":"2026-11-24T10:00:03Z"}
`

func TestGKELogEntries(t *testing.T) {
	in := []sources.Input{{Name: "gke.json", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte(gkeEntries))), nil }}}
	var got []string
	st, err := sources.Read(context.Background(), sources.ReadOptions{Inputs: in, Workers: 1}, func() audit.Sink {
		return audit.SinkFunc(func(e *audit.Event) {
			got = append(got, fmt.Sprintf("%s %s %s %s ns=%s name=%s code=%d user=%s ip=%s decision=%s level=%s replicas=%v latency=%v",
				e.AuditID[:8], e.Verb, e.ResourceKey(), e.Stage, e.ObjectRef.Namespace, e.ObjectRef.Name, e.Code, e.User.Username,
				e.SourceIP(), e.Decision(), e.Level, e.Get("requestObject", "spec", "replicas"), e.HasLatency()))
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0f3c9e2a list secrets ResponseComplete ns= name= code=403 user=system:serviceaccount:ingress:traefik ip=10.8.0.12 decision=forbid level=Metadata replicas=<nil> latency=false",
		"22222222 patch deployments.apps/scale ResponseComplete ns=shop name=checkout code=200 user=alice@example.com ip=203.0.113.7 decision=allow level=Request replicas=3 latency=false",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if st.Skipped[audit.SkipGKE] != 1 {
		t.Errorf("the GKE entry of another service should be skipped and counted: %v", st.Skipped)
	}
}
