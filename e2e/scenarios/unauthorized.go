package scenarios

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// Unauthorized is what RunUnauthorized staged: clients the apiserver
// answers 401, each from its own loopback address.
type Unauthorized struct {
	// ExpiredNodes are kubelets whose client certificates expired.
	ExpiredNodes []RejectedClient `json:"expiredNodes"`
	// UnknownCA presents a certificate from a CA the apiserver does not trust.
	UnknownCA RejectedClient `json:"unknownCA"`
	// BadToken sends a bearer token the apiserver does not know.
	BadToken RejectedClient `json:"badToken"`
}

// RejectedClient is one client that got 401 on every request.
type RejectedClient struct {
	// Node is the Node object whose InternalIP is Address, if any.
	Node    string `json:"node,omitempty"`
	Address string `json:"address"`
	// CertCN and CertNotAfter describe the certificate presented, if any.
	CertCN       string    `json:"certCN,omitempty"`
	CertNotAfter time.Time `json:"certNotAfter,omitzero"`
	UserAgent    string    `json:"userAgent"`
	// Requests is how many requests it sent; each should be one 401 event.
	Requests int `json:"requests"`
	// Reason is why the apiserver rejects it, as its own log says.
	Reason string `json:"reason"`
}

// RunUnauthorized registers four nodes, then plays their kubelets with
// certificates that expired a day ago, each from its own address (127.0.1.1
// to 127.0.1.4, the nodes' InternalIPs), plus a client with a certificate
// from an unknown CA (127.0.1.5) and one with a bad bearer token (127.0.1.6).
func RunUnauthorized(ctx context.Context, cp *controlplane.ControlPlane) (Unauthorized, error) {
	const rounds = 6
	var gt Unauthorized
	for i := 1; i <= 4; i++ {
		gt.ExpiredNodes = append(gt.ExpiredNodes, RejectedClient{
			Node: fmt.Sprintf("worker-expired-%d", i), Address: fmt.Sprintf("127.0.1.%d", i),
			UserAgent: kubeletUserAgent, Reason: "x509: certificate has expired or is not yet valid",
		})
	}
	gt.UnknownCA = RejectedClient{
		Address: "127.0.1.5", CertCN: "system:node:worker-rogue", UserAgent: kubeletUserAgent,
		Reason: "x509: certificate signed by unknown authority",
	}
	gt.BadToken = RejectedClient{
		Address: "127.0.1.6", UserAgent: "curl/8.5.0", Reason: "invalid bearer token",
	}

	type player struct {
		rc     *RejectedClient
		client kubernetes.Interface
		// request makes one call the server must reject.
		request func(ctx context.Context, c kubernetes.Interface, node string) error
	}
	var players []player
	for i := range gt.ExpiredNodes {
		rc := &gt.ExpiredNodes[i]
		if err := registerNode(ctx, cp.Client, rc.Node, rc.Address); err != nil {
			return gt, err
		}
		kp, err := cp.PKI.ExpiredNodeCert(rc.Node)
		if err != nil {
			return gt, err
		}
		rc.CertCN, rc.CertNotAfter = "system:node:"+rc.Node, kp.NotAfter.UTC()
		c, err := cp.ClientFor(controlplane.ClientConfig{Cert: &kp, Source: net.ParseIP(rc.Address), UserAgent: rc.UserAgent})
		if err != nil {
			return gt, err
		}
		players = append(players, player{rc, c, kubeletHeartbeatOnce})
	}
	kp, err := cp.PKI.UnknownCACert(gt.UnknownCA.CertCN, "system:nodes")
	if err != nil {
		return gt, err
	}
	gt.UnknownCA.CertNotAfter = kp.NotAfter.UTC()
	c, err := cp.ClientFor(controlplane.ClientConfig{Cert: &kp, Source: net.ParseIP(gt.UnknownCA.Address), UserAgent: gt.UnknownCA.UserAgent})
	if err != nil {
		return gt, err
	}
	players = append(players, player{&gt.UnknownCA, c, func(ctx context.Context, c kubernetes.Interface, _ string) error {
		_, err := c.CoreV1().Nodes().Get(ctx, "worker-rogue", metav1.GetOptions{})
		return err
	}})
	c, err = cp.ClientFor(controlplane.ClientConfig{Token: "not-a-real-token", Source: net.ParseIP(gt.BadToken.Address), UserAgent: gt.BadToken.UserAgent})
	if err != nil {
		return gt, err
	}
	players = append(players, player{&gt.BadToken, c, func(ctx context.Context, c kubernetes.Interface, _ string) error {
		_, err := c.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
		return err
	}})

	var wg sync.WaitGroup
	errs := make([]error, len(players))
	for i, p := range players {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				err := p.request(ctx, p.client, p.rc.Node)
				// kubeletHeartbeatOnce sends two requests.
				if p.rc.Node != "" {
					p.rc.Requests += 2
				} else {
					p.rc.Requests++
				}
				if !apierrors.IsUnauthorized(err) {
					errs[i] = fmt.Errorf("%s from %s: want 401 Unauthorized, got %v", p.rc.UserAgent, p.rc.Address, err)
					return
				}
				if err := sleep(ctx, time.Second); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return gt, err
		}
	}
	return gt, nil
}

// kubeletHeartbeatOnce is what a kubelet does every 10s: patch its node's
// status and renew its lease. With an expired certificate the first call
// already fails; the kubelet would still try the lease, so do we.
func kubeletHeartbeatOnce(ctx context.Context, c kubernetes.Interface, node string) error {
	patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","lastHeartbeatTime":%q}]}}`,
		time.Now().UTC().Format(time.RFC3339))
	_, err1 := c.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	_, err2 := c.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node, metav1.GetOptions{})
	if err1 != nil {
		return err1
	}
	return err2
}

// registerNode creates a Node, as its kubelet would on first start, with
// addr as its InternalIP, so a 401's source address can be joined to a node.
// Nodes created by an admin keep the status they are created with.
func registerNode(ctx context.Context, c kubernetes.Interface, name, addr string) error {
	_, err := c.CoreV1().Nodes().Create(ctx, newNode(name, addr), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func newNode(name, addr string) *corev1.Node {
	now := metav1.Now()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		}},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: addr},
				{Type: corev1.NodeHostName, Address: name},
			},
			Conditions: []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
			}},
			Capacity: corev1.ResourceList{},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: "amd64"},
		},
	}
}

// lease is a kubelet's node lease.
func lease(node string, durationSeconds int32) *coordinationv1.Lease {
	now := metav1.NewMicroTime(time.Now())
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &node, LeaseDurationSeconds: &durationSeconds, RenewTime: &now,
		},
	}
}
