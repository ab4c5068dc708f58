package scenarios

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubectl-audit/kubectl-audit/e2e/controlplane"
)

// GarbageCollectorUser is the garbage collector's identity when the
// controller manager runs with --use-service-account-credentials.
const GarbageCollectorUser = "system:serviceaccount:kube-system:generic-garbage-collector"

// OrphanLoop is what RunOrphanLoop staged: the talk's ReplicaSet stuck
// Terminating because the garbage collector cannot orphan its pods.
type OrphanLoop struct {
	Namespace  string `json:"namespace"`
	ReplicaSet string `json:"replicaSet"`
	RSUID      string `json:"replicaSetUID"`
	// Pods are the ReplicaSet's pods, which the collector patches (to drop
	// the ownerReference) and which the webhook makes invalid.
	Pods []string `json:"pods"`
	// User is who gets the 422s.
	User string `json:"user"`
	// Webhook is the MutatingWebhookConfiguration and the webhook's name.
	WebhookConfiguration string `json:"webhookConfiguration"`
	Webhook              string `json:"webhook"`
	// WebhookCalls counts the pod UPDATE admissions it mutated.
	WebhookCalls int64 `json:"webhookCalls"`
	// DeletedAt is when the ReplicaSet was deleted with propagationPolicy
	// Orphan; the loop ran for LoopSeconds after it.
	DeletedAt   time.Time `json:"deletedAt"`
	LoopSeconds float64   `json:"loopSeconds"`
	// StillTerminating is true if, at the end, the ReplicaSet still existed
	// with a deletionTimestamp and the orphan finalizer.
	StillTerminating bool `json:"stillTerminating"`
}

// RunOrphanLoop serves a mutating admission webhook that adds an
// environment variable to a pod's container on every UPDATE (a field a pod
// update may not change), creates a ReplicaSet, and deletes it with
// propagationPolicy=Orphan. The garbage collector's patch that removes each
// pod's ownerReference is then mutated into an invalid update and rejected
// with 422, again and again with backoff, and the ReplicaSet stays
// Terminating with the orphan finalizer.
func RunOrphanLoop(ctx context.Context, cp *controlplane.ControlPlane, loopFor time.Duration) (OrphanLoop, error) {
	gt := OrphanLoop{
		Namespace: "legacy", ReplicaSet: "billing-api", User: GarbageCollectorUser,
		WebhookConfiguration: "sidecar-env-injector", Webhook: "env-injector.sidecars.example.com",
	}
	c := cp.Client
	if err := createNamespace(ctx, c, gt.Namespace); err != nil {
		return gt, err
	}

	wh, err := startEnvInjector(cp)
	if err != nil {
		return gt, err
	}
	defer wh.close()
	if _, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: gt.WebhookConfiguration},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    gt.Webhook,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(wh.url), CABundle: cp.PKI.CA.CertPEM},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: gt.Namespace}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}, metav1.CreateOptions{}); err != nil {
		return gt, err
	}

	labels := map[string]string{"app": gt.ReplicaSet}
	rs, err := c.AppsV1().ReplicaSets(gt.Namespace).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: gt.ReplicaSet, Labels: labels},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example.com/billing-api:2.4.1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return gt, err
	}
	gt.RSUID = string(rs.UID)
	if err := waitFor(ctx, 30*time.Second, 200*time.Millisecond, "the ReplicaSet's pods", func(ctx context.Context) (bool, error) {
		pods, err := c.CoreV1().Pods(gt.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + gt.ReplicaSet})
		if err != nil || len(pods.Items) != 2 {
			return false, err
		}
		gt.Pods = gt.Pods[:0]
		for _, p := range pods.Items {
			gt.Pods = append(gt.Pods, p.Name)
		}
		return true, nil
	}); err != nil {
		return gt, err
	}
	// The collector must have the pods in its graph as the ReplicaSet's
	// dependents before the delete; if it saw the delete first it would
	// drop the finalizer and later delete the "ownerless" pods instead.
	if err := sleep(ctx, 3*time.Second); err != nil {
		return gt, err
	}

	// kubectl delete rs billing-api --cascade=orphan
	gt.DeletedAt = time.Now().UTC()
	if err := c.AppsV1().ReplicaSets(gt.Namespace).Delete(ctx, gt.ReplicaSet, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
		return gt, err
	}
	if err := sleep(ctx, loopFor); err != nil {
		return gt, err
	}
	gt.LoopSeconds = time.Since(gt.DeletedAt).Seconds()
	gt.WebhookCalls = wh.calls.Load()
	rs, err = c.AppsV1().ReplicaSets(gt.Namespace).Get(ctx, gt.ReplicaSet, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return gt, err
	}
	if err == nil && rs.DeletionTimestamp != nil {
		for _, f := range rs.Finalizers {
			gt.StillTerminating = gt.StillTerminating || f == metav1.FinalizerOrphanDependents
		}
	}
	if wh.err.Load() != nil {
		return gt, fmt.Errorf("webhook: %v", wh.err.Load())
	}
	return gt, nil
}

// envInjector is the mutating webhook: an HTTPS server on 127.0.0.1.
type envInjector struct {
	url   string
	srv   *http.Server
	calls atomic.Int64
	err   atomic.Value // first error it hit, if any
}

func startEnvInjector(cp *controlplane.ControlPlane) (*envInjector, error) {
	kp, err := cp.PKI.ServingCert("env-injector")
	if err != nil {
		return nil, err
	}
	cert, err := kp.TLSCertificate()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	wh := &envInjector{url: "https://" + l.Addr().String() + "/mutate"}
	wh.srv = &http.Server{
		Handler:           http.HandlerFunc(wh.serve),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		if err := wh.srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			wh.err.CompareAndSwap(nil, err.Error())
		}
	}()
	return wh, nil
}

func (wh *envInjector) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = wh.srv.Shutdown(ctx)
}

// serve patches the first container's env, which a pod update may not
// change: the apiserver then rejects the whole update as invalid (422).
func (wh *envInjector) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		wh.err.CompareAndSwap(nil, fmt.Sprintf("bad AdmissionReview: %v", err))
		http.Error(w, "bad AdmissionReview", http.StatusBadRequest)
		return
	}
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	env := corev1.EnvVar{Name: "SIDECAR_INJECTED_AT", Value: time.Now().UTC().Format(time.RFC3339Nano)}
	var patch []map[string]any
	if len(pod.Spec.Containers) > 0 && len(pod.Spec.Containers[0].Env) > 0 {
		patch = []map[string]any{{"op": "add", "path": "/spec/containers/0/env/-", "value": env}}
	} else {
		patch = []map[string]any{{"op": "add", "path": "/spec/containers/0/env", "value": []corev1.EnvVar{env}}}
	}
	patchBytes, _ := json.Marshal(patch)
	wh.calls.Add(1)
	resp := admissionv1.AdmissionReview{
		TypeMeta: review.TypeMeta,
		Response: &admissionv1.AdmissionResponse{
			UID: review.Request.UID, Allowed: true,
			Patch: patchBytes, PatchType: ptr.To(admissionv1.PatchTypeJSONPatch),
		},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}
