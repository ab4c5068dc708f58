package scenarios

import (
	"bytes"
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// DeploymentLifecycle is what RunDeploymentLifecycle staged: the admin's
// kubectl-like calls on one deployment, and what the controllers did in
// response: a ReplicaSet per template, pods, bindings by a simulated
// scheduler, status updates by a simulated kubelet, a full rolling update.
type DeploymentLifecycle struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	User      string `json:"user"`
	// Steps are the admin's calls on deployments in order, as
	// verb[/subresource], not counting the gets that poll the rollout.
	Steps []string `json:"steps"`
	// Replicas before and after the scale; images before and after set image.
	Replicas     [2]int32  `json:"replicas"`
	Images       [2]string `json:"images"`
	ReplicaSets  []string  `json:"replicaSets"`
	WatchEvents  int       `json:"watchEvents"`
	WatchSeconds float64   `json:"watchSeconds"`
	// Pods is what the simulated scheduler and kubelet did to the pods.
	Pods PodLife `json:"pods"`
	// ExecPod is the pod the admin tried to exec into (kubectl exec over
	// WebSocket); nothing serves the kubelet's port, so it fails with
	// ExecError.
	ExecPod   string `json:"execPod"`
	ExecError string `json:"execError"`
}

// RunDeploymentLifecycle creates a deployment, lists and watches it, scales
// it through the scale subresource, sets its image, and deletes it, the way
// kubectl create / get -w / scale / set image / delete would.
func RunDeploymentLifecycle(ctx context.Context, cp *controlplane.ControlPlane) (gt DeploymentLifecycle, err error) {
	gt = DeploymentLifecycle{
		Namespace: "demo", Name: "web", User: "kubernetes-admin",
		Replicas: [2]int32{2, 4}, Images: [2]string{"nginx:1.27.0", "nginx:1.27.1"},
	}
	c := cp.Client
	deployments := c.AppsV1().Deployments(gt.Namespace)
	if err := createNamespace(ctx, c, gt.Namespace); err != nil {
		return gt, err
	}
	pl, err := startPodLife(ctx, cp, gt.Namespace, "worker-demo", "127.0.2.10")
	if err != nil {
		return gt, err
	}
	defer func() {
		p, perr := pl.stop()
		gt.Pods = p
		if err == nil {
			err = perr
		}
	}()
	labels := map[string]string{"app": gt.Name}
	d, err := deployments.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: gt.Name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(gt.Replicas[0]),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: gt.Name, Image: gt.Images[0],
					Ports: []corev1.ContainerPort{{ContainerPort: 80}},
				}}},
			},
		},
	}, metav1.CreateOptions{FieldManager: "kubectl-create"})
	if err != nil {
		return gt, err
	}
	gt.UID = string(d.UID)
	gt.Steps = append(gt.Steps, "create")

	// kubectl get -w: a list, then a watch from its resourceVersion.
	list, err := deployments.List(ctx, metav1.ListOptions{})
	if err != nil {
		return gt, err
	}
	gt.Steps = append(gt.Steps, "list")
	watchCtx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	w, err := deployments.Watch(watchCtx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, FieldSelector: "metadata.name=" + gt.Name})
	if err != nil {
		return gt, err
	}
	gt.Steps = append(gt.Steps, "watch")
	watchStart := time.Now()
	watchDone := make(chan int)
	go func() {
		n := 0
		for range w.ResultChan() {
			n++
		}
		watchDone <- n
	}()

	if err := waitRolledOut(ctx, c, gt.Namespace, gt.Name, gt.Replicas[0]); err != nil {
		return gt, err
	}

	// kubectl scale sends a merge patch to the scale subresource.
	scale := fmt.Sprintf(`{"spec":{"replicas":%d}}`, gt.Replicas[1])
	if _, err := deployments.Patch(ctx, gt.Name, types.MergePatchType, []byte(scale), metav1.PatchOptions{}, "scale"); err != nil {
		return gt, err
	}
	gt.Steps = append(gt.Steps, "patch/scale")
	if err := sleep(ctx, 2*time.Second); err != nil {
		return gt, err
	}

	// kubectl set image sends a strategic merge patch of the container.
	image := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":%q}]}}}}`, gt.Name, gt.Images[1])
	if _, err := deployments.Patch(ctx, gt.Name, types.StrategicMergePatchType, []byte(image), metav1.PatchOptions{FieldManager: "kubectl-set"}); err != nil {
		return gt, err
	}
	gt.Steps = append(gt.Steps, "patch")
	if err := waitRolledOut(ctx, c, gt.Namespace, gt.Name, gt.Replicas[1]); err != nil {
		return gt, err
	}
	rss, err := c.AppsV1().ReplicaSets(gt.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + gt.Name})
	if err != nil {
		return gt, err
	}
	for _, rs := range rss.Items {
		gt.ReplicaSets = append(gt.ReplicaSets, rs.Name)
	}
	cancelWatch()

	// kubectl exec: the apiserver would proxy to the kubelet's port.
	pods, err := c.CoreV1().Pods(gt.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + gt.Name})
	if err != nil || len(pods.Items) == 0 {
		return gt, fmt.Errorf("no pods to exec into: %v", err)
	}
	gt.ExecPod = pods.Items[0].Name
	gt.ExecError = execOnce(ctx, cp, gt.Namespace, gt.ExecPod, gt.Name)

	gt.WatchEvents = <-watchDone
	gt.WatchSeconds = time.Since(watchStart).Seconds()

	// kubectl delete: background propagation, the garbage collector
	// deletes the ReplicaSets and their pods.
	if err := deployments.Delete(ctx, gt.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		return gt, err
	}
	gt.Steps = append(gt.Steps, "delete")
	err = waitFor(ctx, 30*time.Second, 250*time.Millisecond, "the garbage collector to delete the pods", func(ctx context.Context) (bool, error) {
		pods, err := c.CoreV1().Pods(gt.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + gt.Name})
		return err == nil && len(pods.Items) == 0, err
	})
	return gt, err
}

// waitRolledOut waits until the deployment's rollout is complete: every
// replica updated and available, none of an older template left.
func waitRolledOut(ctx context.Context, c kubernetes.Interface, ns, name string, replicas int32) error {
	return waitFor(ctx, 60*time.Second, 250*time.Millisecond, "rollout of "+name, func(ctx context.Context) (bool, error) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.Replicas == replicas && s.UpdatedReplicas == replicas && s.AvailableReplicas == replicas, nil
	})
}

// execOnce runs `kubectl exec <pod> -- date` the way kubectl v1.37 does
// (WebSocket, GET), and returns the error it gets.
func execOnce(ctx context.Context, cp *controlplane.ControlPlane, ns, pod, container string) string {
	req := cp.Client.CoreV1().RESTClient().Get().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: []string{"date"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	exec, err := remotecommand.NewWebSocketExecutor(rest.CopyConfig(cp.Config), "GET", req.URL().String())
	if err != nil {
		return err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// Separate buffers: the executor copies both streams concurrently.
	var stdout, stderr bytes.Buffer
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	if err == nil {
		return ""
	}
	return err.Error()
}
