package cluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// object is what the linker keeps of a listed object.
type object struct {
	kind, namespace, name, uid string
	created, deleting          *time.Time
	owners                     []metav1.OwnerReference
	summary                    string
}

// objectSet is one cached list, indexed.
type objectSet struct {
	items  []object
	byName map[string]int // namespace/name
}

func newObjectSet(items []object) *objectSet {
	s := &objectSet{items: items, byName: make(map[string]int, len(items))}
	for i, o := range items {
		s.byName[o.namespace+"/"+o.name] = i
	}
	return s
}

func (s *objectSet) get(ns, name string) (object, bool) {
	i, ok := s.byName[ns+"/"+name]
	if !ok {
		return object{}, false
	}
	return s.items[i], true
}

func metaOf(kind string, m metav1.ObjectMeta) object {
	o := object{kind: kind, namespace: m.Namespace, name: m.Name, uid: string(m.UID), owners: m.OwnerReferences}
	if !m.CreationTimestamp.IsZero() {
		t := m.CreationTimestamp.UTC()
		o.created = &t
	}
	if m.DeletionTimestamp != nil {
		t := m.DeletionTimestamp.UTC()
		o.deleting = &t
	}
	return o
}

// kinds maps the kinds the linker knows to their resources; others go
// through the RESTMapper.
var kinds = map[string]schema.GroupVersionResource{
	"Pod":                            gvr("", "v1", "pods"),
	"Node":                           gvr("", "v1", "nodes"),
	"ServiceAccount":                 gvr("", "v1", "serviceaccounts"),
	"Service":                        gvr("", "v1", "services"),
	"ReplicaSet":                     gvr("apps", "v1", "replicasets"),
	"Deployment":                     gvr("apps", "v1", "deployments"),
	"StatefulSet":                    gvr("apps", "v1", "statefulsets"),
	"DaemonSet":                      gvr("apps", "v1", "daemonsets"),
	"Job":                            gvr("batch", "v1", "jobs"),
	"CronJob":                        gvr("batch", "v1", "cronjobs"),
	"ClusterRole":                    gvr("rbac.authorization.k8s.io", "v1", "clusterroles"),
	"ClusterRoleBinding":             gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
	"Role":                           gvr("rbac.authorization.k8s.io", "v1", "roles"),
	"RoleBinding":                    gvr("rbac.authorization.k8s.io", "v1", "rolebindings"),
	"MutatingWebhookConfiguration":   gvr("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations"),
	"ValidatingWebhookConfiguration": gvr("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations"),
}

func kindOf(res schema.GroupVersionResource) string {
	for k, r := range kinds {
		if r.Group == res.Group && r.Resource == res.Resource {
			return k
		}
	}
	return ""
}

// objects lists one resource type across all namespaces, once per run.
// Built-in workload types use the typed client; others the dynamic one.
func (l *Linker) objects(ctx context.Context, res schema.GroupVersionResource) (*objectSet, error) {
	key := "objects:" + res.Resource + "." + res.Group
	v, err := l.list(ctx, key, func(ctx context.Context) (any, error) {
		items, err := l.listObjects(ctx, res)
		if err != nil {
			return nil, err
		}
		return newObjectSet(items), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*objectSet), nil
}

func (l *Linker) listObjects(ctx context.Context, res schema.GroupVersionResource) ([]object, error) {
	opts := metav1.ListOptions{}
	now := l.now()
	var out []object
	switch res.Group + "/" + res.Resource {
	case "/pods":
		pods, err := l.pods(ctx)
		if err != nil {
			return nil, err
		}
		for i := range pods {
			out = append(out, podObject(&pods[i]))
		}
	case "/nodes":
		nodes, err := l.nodes(ctx)
		if err != nil {
			return nil, err
		}
		for i := range nodes {
			out = append(out, nodeObject(&nodes[i], now))
		}
	case "/serviceaccounts":
		list, err := l.kube.CoreV1().ServiceAccounts("").List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			o := metaOf("ServiceAccount", list.Items[i].ObjectMeta)
			o.summary = ageSummary(o.created, now)
			out = append(out, o)
		}
	case "/services":
		list, err := l.kube.CoreV1().Services("").List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			s := &list.Items[i]
			o := metaOf("Service", s.ObjectMeta)
			o.summary = fmt.Sprintf("%s %s", s.Spec.Type, s.Spec.ClusterIP)
			out = append(out, o)
		}
	case "apps/deployments":
		list, err := l.kube.AppsV1().Deployments("").List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			d := &list.Items[i]
			o := metaOf("Deployment", d.ObjectMeta)
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			o.summary = fmt.Sprintf("%d/%d ready%s", d.Status.ReadyReplicas, want, images(d.Spec.Template.Spec.Containers))
			out = append(out, o)
		}
	case "apps/replicasets":
		list, err := l.kube.AppsV1().ReplicaSets("").List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			rs := &list.Items[i]
			o := metaOf("ReplicaSet", rs.ObjectMeta)
			want := int32(1)
			if rs.Spec.Replicas != nil {
				want = *rs.Spec.Replicas
			}
			o.summary = fmt.Sprintf("%d/%d ready", rs.Status.ReadyReplicas, want)
			out = append(out, o)
		}
	case "apps/statefulsets":
		list, err := l.kube.AppsV1().StatefulSets("").List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			out = append(out, workloadObject("StatefulSet", list.Items[i].ObjectMeta, list.Items[i].Spec.Template.Spec.Containers, now))
		}
	case "apps/daemonsets":
		list, err := l.kube.AppsV1().DaemonSets("").List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			out = append(out, workloadObject("DaemonSet", list.Items[i].ObjectMeta, list.Items[i].Spec.Template.Spec.Containers, now))
		}
	case "batch/jobs":
		list, err := l.kube.BatchV1().Jobs("").List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			out = append(out, jobObject(&list.Items[i], now))
		}
	case "batch/cronjobs":
		list, err := l.kube.BatchV1().CronJobs("").List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			c := &list.Items[i]
			o := metaOf("CronJob", c.ObjectMeta)
			o.summary = "schedule " + c.Spec.Schedule
			out = append(out, o)
		}
	default:
		if l.dyn == nil {
			return nil, fmt.Errorf("no dynamic client for %s", res.Resource)
		}
		list, err := l.dyn.Resource(res).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		kind := strings.TrimSuffix(list.GetKind(), "List")
		if kind == "" {
			kind = kindOf(res)
		}
		for i := range list.Items {
			out = append(out, unstructuredObject(kind, &list.Items[i], now))
		}
	}
	return out, nil
}

func unstructuredObject(kind string, u *unstructured.Unstructured, now time.Time) object {
	if k := u.GetKind(); k != "" {
		kind = k
	}
	o := object{kind: kind, namespace: u.GetNamespace(), name: u.GetName(), uid: string(u.GetUID()), owners: u.GetOwnerReferences()}
	if c := u.GetCreationTimestamp(); !c.IsZero() {
		t := c.UTC()
		o.created = &t
	}
	if d := u.GetDeletionTimestamp(); d != nil {
		t := d.UTC()
		o.deleting = &t
	}
	o.summary = ageSummary(o.created, now)
	return o
}

func podObject(p *corev1.Pod) object {
	o := metaOf("Pod", p.ObjectMeta)
	parts := []string{string(p.Status.Phase)}
	if p.Spec.NodeName != "" {
		parts = append(parts, "on "+p.Spec.NodeName)
	}
	if p.Status.PodIP != "" {
		parts = append(parts, p.Status.PodIP)
	}
	o.summary = strings.Join(parts, ", ")
	return o
}

func nodeObject(n *corev1.Node, now time.Time) object {
	o := metaOf("Node", n.ObjectMeta)
	ready := "Ready unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				ready = "Ready"
			} else {
				ready = "NotReady"
			}
		}
	}
	parts := []string{ready}
	if v := n.Status.NodeInfo.KubeletVersion; v != "" {
		parts = append(parts, "kubelet "+v)
	}
	if o.created != nil {
		parts = append(parts, "age "+age(now.Sub(*o.created)))
	}
	o.summary = strings.Join(parts, ", ")
	return o
}

func workloadObject(kind string, m metav1.ObjectMeta, cs []corev1.Container, now time.Time) object {
	o := metaOf(kind, m)
	o.summary = strings.TrimPrefix(ageSummary(o.created, now)+images(cs), ", ")
	return o
}

func jobObject(j *batchv1.Job, now time.Time) object {
	o := metaOf("Job", j.ObjectMeta)
	o.summary = fmt.Sprintf("%d succeeded, %d failed", j.Status.Succeeded, j.Status.Failed)
	if a := ageSummary(o.created, now); a != "" {
		o.summary += ", " + a
	}
	return o
}

func images(cs []corev1.Container) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Image)
	}
	if len(out) == 0 {
		return ""
	}
	return ", image " + strings.Join(out, ",")
}

func ageSummary(created *time.Time, now time.Time) string {
	if created == nil {
		return ""
	}
	return "age " + age(now.Sub(*created))
}

// linkOf turns a listed object into a Link.
func linkOf(o object) Link {
	l := Link{Kind: o.kind, Namespace: o.namespace, Name: o.name, UID: o.uid, State: StateLinked, Summary: o.summary,
		Created: o.created, Deleting: o.deleting}
	if o.deleting != nil {
		l.Summary = strings.TrimPrefix(l.Summary+", Terminating since "+o.deleting.Format(time.RFC3339), ", ")
	}
	return l
}
