package scenarios

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// schedulerUserAgent is what a v1.37.2 kube-scheduler sends.
const schedulerUserAgent = "kube-scheduler/v1.37.2 (linux/amd64) kubernetes/0000000/scheduler"

// PodLife is what a scheduler and a kubelet, simulated for one namespace,
// did to its pods: the binding and status calls that follow a
// deployment's pod creations on a real cluster.
type PodLife struct {
	Node          string `json:"node"`
	NodeAddress   string `json:"nodeAddress"`
	SchedulerUser string `json:"schedulerUser"`
	KubeletUser   string `json:"kubeletUser"`
	// Bindings (pods/binding creates by the scheduler), StatusUpdates
	// (pods/status patches by the kubelet: Running and Ready) and
	// FinalDeletes (the kubelet's grace-period-0 delete of a terminating pod).
	Bindings      int64 `json:"bindings"`
	StatusUpdates int64 `json:"statusUpdates"`
	FinalDeletes  int64 `json:"finalDeletes"`
}

// podLife runs a scheduler that binds every unscheduled pod of one
// namespace to one node, and that node's kubelet, which reports bound pods
// Running and Ready and confirms their deletion. No containers run: it is
// the API traffic of both that matters. Both watch through informers, as
// the real components do.
type podLife struct {
	gt     PodLife
	ns     string
	sched  kubernetes.Interface
	kubel  kubernetes.Interface
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
	done   sync.Map // pod UID + step, so each step is done once per pod
	counts struct{ bindings, status, deletes atomic.Int64 }
}

func startPodLife(ctx context.Context, cp *controlplane.ControlPlane, ns, node, addr string) (*podLife, error) {
	pl := &podLife{ns: ns, gt: PodLife{Node: node, NodeAddress: addr, SchedulerUser: "system:kube-scheduler", KubeletUser: "system:node:" + node}}
	schedCert, err := cp.PKI.ClientCert("kube-scheduler", pl.gt.SchedulerUser)
	if err != nil {
		return nil, err
	}
	if pl.sched, err = cp.ClientFor(controlplane.ClientConfig{Cert: &schedCert, UserAgent: schedulerUserAgent}); err != nil {
		return nil, err
	}
	nodeCert, err := cp.PKI.NodeCert(node)
	if err != nil {
		return nil, err
	}
	if pl.kubel, err = cp.ClientFor(controlplane.ClientConfig{Cert: &nodeCert, Source: net.ParseIP(addr), UserAgent: kubeletUserAgent}); err != nil {
		return nil, err
	}
	n := newNode(node, addr)
	// Where the apiserver would dial the kubelet (exec, logs); nothing
	// listens there.
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = 10250
	if _, err := pl.kubel.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("%s registers: %w", node, err)
	}

	ctx, pl.cancel = context.WithCancel(ctx)
	// The scheduler watches unscheduled pods (here: of one namespace); the
	// kubelet watches the pods bound to its node, in every namespace.
	schedInformers := informers.NewSharedInformerFactoryWithOptions(pl.sched, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=" }))
	kubeletInformers := informers.NewSharedInformerFactoryWithOptions(pl.kubel, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=" + node }))
	work := make(chan *corev1.Pod, 256)
	// Never block an informer once the worker has stopped: its Shutdown
	// would wait for the handler forever.
	enqueue := func(obj any) {
		if pod, ok := obj.(*corev1.Pod); ok {
			select {
			case work <- pod:
			case <-ctx.Done():
			}
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}
	if _, err := schedInformers.Core().V1().Pods().Informer().AddEventHandler(handler); err != nil {
		return nil, err
	}
	if _, err := kubeletInformers.Core().V1().Pods().Informer().AddEventHandler(handler); err != nil {
		return nil, err
	}
	schedInformers.Start(ctx.Done())
	kubeletInformers.Start(ctx.Done())
	pl.wg.Add(1)
	go func() {
		defer pl.wg.Done()
		defer schedInformers.Shutdown()
		defer kubeletInformers.Shutdown()
		for {
			select {
			case <-ctx.Done():
				return
			case pod := <-work:
				if err := pl.handle(ctx, pod); err != nil && ctx.Err() == nil {
					pl.errMu.Lock()
					if pl.err == nil {
						pl.err = err
					}
					pl.errMu.Unlock()
				}
			}
		}
	}()
	return pl, nil
}

// once reports whether step has not yet been done for pod, and marks it.
func (pl *podLife) once(pod *corev1.Pod, step string) bool {
	_, done := pl.done.LoadOrStore(string(pod.UID)+"/"+step, true)
	return !done
}

func (pl *podLife) handle(ctx context.Context, pod *corev1.Pod) error {
	switch {
	case pod.Spec.NodeName == "" && pod.Namespace == pl.ns && pod.DeletionTimestamp == nil:
		if !pl.once(pod, "bind") {
			return nil
		}
		err := pl.sched.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: pl.gt.Node},
		}, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // deleted or already bound meanwhile
		}
		if err != nil {
			return fmt.Errorf("bind %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		pl.counts.bindings.Add(1)
		now := metav1.NewMicroTime(time.Now())
		_, err = pl.sched.EventsV1().Events(pod.Namespace).Create(ctx, &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod.Name, time.Now().UnixNano()), Namespace: pod.Namespace},
			EventTime:           now,
			ReportingController: "default-scheduler", ReportingInstance: "default-scheduler-e2e",
			Action: "Binding", Reason: "Scheduled", Type: corev1.EventTypeNormal,
			Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1"},
			Note:      fmt.Sprintf("Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, pl.gt.Node),
		}, metav1.CreateOptions{})
		return err

	case pod.Spec.NodeName == pl.gt.Node && pod.DeletionTimestamp != nil:
		// The kubelet has stopped the containers: it confirms the deletion.
		if !pl.once(pod, "delete") {
			return nil
		}
		err := pl.kubel.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0), Preconditions: metav1.NewUIDPreconditions(string(pod.UID)),
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("%s deletes %s/%s: %w", pl.gt.Node, pod.Namespace, pod.Name, err)
		}
		pl.counts.deletes.Add(1)
		return nil

	case pod.Spec.NodeName == pl.gt.Node && pod.Status.Phase == corev1.PodPending:
		if !pl.once(pod, "running") {
			return nil
		}
		now := metav1.Now()
		status := pod.Status.DeepCopy()
		status.Phase = corev1.PodRunning
		status.HostIP, status.HostIPs = pl.gt.NodeAddress, []corev1.HostIP{{IP: pl.gt.NodeAddress}}
		ip := fmt.Sprintf("10.244.0.%d", 10+pl.counts.status.Load()%200)
		status.PodIP, status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		status.StartTime = &now
		status.Conditions = nil
		for _, t := range []corev1.PodConditionType{corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
			status.Conditions = append(status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
		}
		status.ContainerStatuses = nil
		for _, c := range pod.Spec.Containers {
			status.ContainerStatuses = append(status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true, Started: ptr.To(true),
				ContainerID: "containerd://" + string(pod.UID)[:8] + c.Name,
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			})
		}
		p := pod.DeepCopy()
		p.Status = *status
		// The kubelet's status manager sends a strategic merge patch; an
		// update of the status subresource is the same to the authorizer
		// and NodeRestriction, and simpler to build.
		if _, err := pl.kubel.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				pl.done.Delete(string(pod.UID) + "/running") // retry on the next event
				return nil
			}
			return fmt.Errorf("%s reports %s/%s running: %w", pl.gt.Node, pod.Namespace, pod.Name, err)
		}
		pl.counts.status.Add(1)
	}
	return nil
}

// stop stops both and returns what they did and the first error.
func (pl *podLife) stop() (PodLife, error) {
	pl.cancel()
	pl.wg.Wait()
	pl.gt.Bindings = pl.counts.bindings.Load()
	pl.gt.StatusUpdates = pl.counts.status.Load()
	pl.gt.FinalDeletes = pl.counts.deletes.Load()
	pl.errMu.Lock()
	defer pl.errMu.Unlock()
	return pl.gt, pl.err
}
