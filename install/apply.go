package install

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// FieldManager is the server-side apply field manager.
const FieldManager = "kubectl-audit"

// resourceOf maps the kinds Objects makes to their resources.
var resourceOf = map[string]schema.GroupVersionResource{
	"Namespace":          {Version: "v1", Resource: "namespaces"},
	"ServiceAccount":     {Version: "v1", Resource: "serviceaccounts"},
	"ConfigMap":          {Version: "v1", Resource: "configmaps"},
	"ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	"Role":               {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
	"RoleBinding":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	"CronJob":            {Group: "batch", Version: "v1", Resource: "cronjobs"},
}

func describe(kind, ns, name string) string {
	if ns != "" {
		return fmt.Sprintf("%s %s/%s", kind, ns, name)
	}
	return kind + " " + name
}

// Apply applies objects with server-side apply (dryRun: the server checks
// them, nothing is stored) and returns a line per object.
func Apply(ctx context.Context, dyn dynamic.Interface, objs []runtime.Object, dryRun bool) ([]string, error) {
	var done []string
	if dryRun {
		// The API server checks a namespaced object only in a namespace
		// that exists.
		checked := map[string]bool{}
		for _, obj := range objs {
			m, err := metaOf(obj)
			if err != nil {
				return nil, err
			}
			ns := m.GetNamespace()
			if ns == "" || checked[ns] {
				continue
			}
			checked[ns] = true
			_, err = dyn.Resource(resourceOf["Namespace"]).Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("namespace %s does not exist, and a server dry run cannot check objects in a namespace to be created: create it first (kubectl create namespace %s), or --apply without --dry-run", ns, ns)
			}
			if err != nil {
				return nil, fmt.Errorf("reading Namespace %s: %w", ns, err)
			}
		}
	}
	for _, obj := range objs {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return done, err
		}
		body, err := json.Marshal(u)
		if err != nil {
			return done, err
		}
		m, err := metaOf(obj)
		if err != nil {
			return done, err
		}
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		res, ok := resourceOf[kind]
		if !ok {
			return done, fmt.Errorf("no resource for kind %s", kind)
		}
		opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		var ri dynamic.ResourceInterface = dyn.Resource(res)
		if m.GetNamespace() != "" {
			ri = dyn.Resource(res).Namespace(m.GetNamespace())
		}
		if _, err := ri.Patch(ctx, m.GetName(), types.ApplyPatchType, body, opts); err != nil {
			what := describe(kind, m.GetNamespace(), m.GetName())
			if apierrors.IsForbidden(err) {
				return done, fmt.Errorf("applying %s: %w (installing needs the right to create and patch it: a cluster admin's)", what, err)
			}
			return done, fmt.Errorf("applying %s: %w", what, err)
		}
		verb := "applied"
		if dryRun {
			verb = "checked (server dry run)"
		}
		done = append(done, fmt.Sprintf("%s %s", describe(kind, m.GetNamespace(), m.GetName()), verb))
	}
	return done, nil
}

// Delete removes what Objects makes, the CronJob first (its Jobs and pods
// with it) and the Namespace last, when it is ours (labelled
// app.kubernetes.io/managed-by=kubectl-audit).
func Delete(ctx context.Context, dyn dynamic.Interface, o Options) ([]string, error) {
	o.defaults()
	type ref struct{ kind, ns, name string }
	refs := []ref{
		{"CronJob", o.Namespace, o.Name},
		{"ConfigMap", o.Namespace, o.StateName()},
		{"RoleBinding", o.Namespace, o.StateName()},
		{"Role", o.Namespace, o.StateName()},
		{"ClusterRoleBinding", "", o.ClusterRoleName()},
		{"ClusterRole", "", o.ClusterRoleName()},
		{"ServiceAccount", o.Namespace, o.Name},
	}
	background := metav1.DeletePropagationBackground
	var done []string
	del := func(kind, ns, name string) error {
		res := resourceOf[kind]
		var ri dynamic.ResourceInterface = dyn.Resource(res)
		if ns != "" {
			ri = dyn.Resource(res).Namespace(ns)
		}
		err := ri.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &background})
		switch {
		case apierrors.IsNotFound(err):
			done = append(done, describe(kind, ns, name)+" not found")
			return nil
		case err != nil:
			return fmt.Errorf("deleting %s: %w", describe(kind, ns, name), err)
		}
		done = append(done, describe(kind, ns, name)+" deleted")
		return nil
	}
	for _, r := range refs {
		if err := del(r.kind, r.ns, r.name); err != nil {
			return done, err
		}
	}
	nsObj, err := dyn.Resource(resourceOf["Namespace"]).Get(ctx, o.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return done, fmt.Errorf("reading Namespace %s: %w", o.Namespace, err)
	case nsObj.GetLabels()[LabelManagedBy] == ManagedBy && !strings.HasPrefix(o.Namespace, "kube-") && o.Namespace != "default":
		if err := del("Namespace", "", o.Namespace); err != nil {
			return done, err
		}
	default:
		done = append(done, describe("Namespace", "", o.Namespace)+" kept (not made by kubectl audit install)")
	}
	return done, nil
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	return m, nil
}

func ptr[T any](v T) *T { return &v }
