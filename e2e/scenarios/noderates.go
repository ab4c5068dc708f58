package scenarios

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// NodeRates is what RunNodeRates staged: kubelets heartbeating, one of them
// five times faster than the rest, and a configmap every node re-reads.
type NodeRates struct {
	Kubelets []Kubelet `json:"kubelets"`
	// FastNode heartbeats every Interval/5.
	FastNode string `json:"fastNode"`
	// ConfigMap is namespace/name of the configmap every node polls.
	ConfigMapNamespace string  `json:"configMapNamespace"`
	ConfigMap          string  `json:"configMap"`
	ConfigMapInterval  float64 `json:"configMapIntervalSeconds"`
	Seconds            float64 `json:"seconds"`
}

// Kubelet is one simulated kubelet.
type Kubelet struct {
	Node    string `json:"node"`
	User    string `json:"user"`
	Address string `json:"address"`
	// IntervalSeconds between heartbeats; each heartbeat is one PATCH of
	// nodes/status and one UPDATE of its lease.
	IntervalSeconds float64 `json:"intervalSeconds"`
	Heartbeats      int     `json:"heartbeats"`
	ConfigMapGets   int     `json:"configMapGets"`
}

// RunNodeRates plays five kubelets (node client certificates, 127.0.2.1 to
// 127.0.2.5), each registering its Node and Lease and then heartbeating
// every 2s; worker-3 heartbeats every 400ms. Every kubelet also GETs the
// node-config/cluster-settings configmap every 3s.
func RunNodeRates(ctx context.Context, cp *controlplane.ControlPlane, runFor time.Duration) (NodeRates, error) {
	const interval = 2 * time.Second
	gt := NodeRates{FastNode: "worker-3", ConfigMapNamespace: "node-config", ConfigMap: "cluster-settings", ConfigMapInterval: 3}
	c := cp.Client
	if err := createNamespace(ctx, c, gt.ConfigMapNamespace); err != nil {
		return gt, err
	}
	if _, err := c.CoreV1().ConfigMaps(gt.ConfigMapNamespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: gt.ConfigMap},
		Data:       map[string]string{"log-level": "info", "max-pods": "110"},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return gt, err
	}
	// The Node authorizer only lets a node read configmaps its pods use;
	// it has no opinion on others, so RBAC decides: let nodes read this one.
	if _, err := c.RbacV1().Roles(gt.ConfigMapNamespace).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-cluster-settings"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{gt.ConfigMap}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return gt, err
	}
	if _, err := c.RbacV1().RoleBindings(gt.ConfigMapNamespace).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "nodes-read-cluster-settings"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "read-cluster-settings"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:nodes"}},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return gt, err
	}

	clients := make([]kubernetes.Interface, 5)
	for i := range 5 {
		k := Kubelet{Node: fmt.Sprintf("worker-%d", i+1), Address: fmt.Sprintf("127.0.2.%d", i+1), IntervalSeconds: interval.Seconds()}
		k.User = "system:node:" + k.Node
		if k.Node == gt.FastNode {
			k.IntervalSeconds /= 5
		}
		kp, err := cp.PKI.NodeCert(k.Node)
		if err != nil {
			return gt, err
		}
		if clients[i], err = cp.ClientFor(controlplane.ClientConfig{Cert: &kp, Source: net.ParseIP(k.Address), UserAgent: kubeletUserAgent}); err != nil {
			return gt, err
		}
		gt.Kubelets = append(gt.Kubelets, k)
	}

	// Register as a kubelet does: the node creates its own Node and Lease.
	for i, k := range gt.Kubelets {
		if _, err := clients[i].CoreV1().Nodes().Create(ctx, newNode(k.Node, k.Address), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return gt, fmt.Errorf("%s registers: %w", k.Node, err)
		}
		if _, err := clients[i].CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease(k.Node, 40), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return gt, fmt.Errorf("%s creates its lease: %w", k.Node, err)
		}
	}

	start := time.Now()
	// Cancelled by a timer rather than given a deadline: client-go's rate
	// limiter fails a call early, before ctx is done, when its wait might
	// pass a deadline, and that would read as a real error.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopTimer := time.AfterFunc(runFor, cancel)
	defer stopTimer.Stop()
	var wg sync.WaitGroup
	// Two goroutines per kubelet, so two error slots each.
	errs := make([]error, 2*len(gt.Kubelets))
	for i := range gt.Kubelets {
		k := &gt.Kubelets[i]
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs[2*i] = heartbeat(runCtx, clients[i], k)
		}()
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Duration(gt.ConfigMapInterval * float64(time.Second)))
			defer tick.Stop()
			for {
				if _, err := clients[i].CoreV1().ConfigMaps(gt.ConfigMapNamespace).Get(runCtx, gt.ConfigMap, metav1.GetOptions{}); err != nil {
					if runCtx.Err() == nil {
						errs[2*i+1] = fmt.Errorf("%s gets configmap: %w", k.Node, err)
					}
					return
				}
				k.ConfigMapGets++
				select {
				case <-runCtx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	wg.Wait()
	gt.Seconds = time.Since(start).Seconds()
	for _, err := range errs {
		if err != nil {
			return gt, err
		}
	}
	return gt, nil
}

// heartbeat does what a kubelet's status and lease loops do, at k's
// interval, until ctx is done: PATCH nodes/status, then UPDATE the lease
// it holds (the kubelet keeps its last lease and sends an update).
func heartbeat(ctx context.Context, c kubernetes.Interface, k *Kubelet) error {
	leases := c.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	l, err := leases.Get(ctx, k.Node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s gets its lease: %w", k.Node, err)
	}
	tick := time.NewTicker(time.Duration(k.IntervalSeconds * float64(time.Second)))
	defer tick.Stop()
	for {
		now := time.Now().UTC()
		patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status","lastHeartbeatTime":%q}]}}`,
			now.Format(time.RFC3339))
		if _, err := c.CoreV1().Nodes().Patch(ctx, k.Node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status"); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s patches its status: %w", k.Node, err)
		}
		renew := metav1.NewMicroTime(now)
		l.Spec.RenewTime = &renew
		if l, err = leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s renews its lease: %w", k.Node, err)
		}
		k.Heartbeats++
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
