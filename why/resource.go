package why

import (
	"fmt"
	"sort"
	"strings"
)

// Resource is one API resource type as the audit log names it
// (objectRef.resource and objectRef.apiGroup).
type Resource struct {
	Group      string `json:"group,omitempty"`
	Version    string `json:"version,omitempty"`
	Resource   string `json:"resource"`
	Kind       string `json:"kind,omitempty"`
	Namespaced bool   `json:"namespaced"`
}

// Key is "resource" or "resource.group", kubectl's spelling.
func (r Resource) Key() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// Display is the lower-case kind ("deployment"), or the resource when the
// kind is unknown.
func (r Resource) Display() string {
	if r.Kind != "" {
		return strings.ToLower(r.Kind)
	}
	return r.Resource
}

type builtin struct {
	Resource
	aliases []string
}

// builtins are the core types kubectl users name without discovery. Short
// names are kubectl's (kubectl api-resources); singular is the lower-case kind.
var builtins = []builtin{
	{Resource{"", "v1", "pods", "Pod", true}, []string{"po"}},
	{Resource{"", "v1", "services", "Service", true}, []string{"svc"}},
	{Resource{"", "v1", "configmaps", "ConfigMap", true}, []string{"cm"}},
	{Resource{"", "v1", "secrets", "Secret", true}, nil},
	{Resource{"", "v1", "serviceaccounts", "ServiceAccount", true}, []string{"sa"}},
	{Resource{"", "v1", "namespaces", "Namespace", false}, []string{"ns"}},
	{Resource{"", "v1", "nodes", "Node", false}, []string{"no"}},
	{Resource{"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true}, []string{"pvc"}},
	{Resource{"", "v1", "persistentvolumes", "PersistentVolume", false}, []string{"pv"}},
	{Resource{"", "v1", "endpoints", "Endpoints", true}, []string{"ep"}},
	{Resource{"", "v1", "events", "Event", true}, []string{"ev"}},
	{Resource{"", "v1", "limitranges", "LimitRange", true}, []string{"limits"}},
	{Resource{"", "v1", "resourcequotas", "ResourceQuota", true}, []string{"quota"}},
	{Resource{"", "v1", "replicationcontrollers", "ReplicationController", true}, []string{"rc"}},
	{Resource{"apps", "v1", "deployments", "Deployment", true}, []string{"deploy"}},
	{Resource{"apps", "v1", "replicasets", "ReplicaSet", true}, []string{"rs"}},
	{Resource{"apps", "v1", "statefulsets", "StatefulSet", true}, []string{"sts"}},
	{Resource{"apps", "v1", "daemonsets", "DaemonSet", true}, []string{"ds"}},
	{Resource{"apps", "v1", "controllerrevisions", "ControllerRevision", true}, nil},
	{Resource{"batch", "v1", "jobs", "Job", true}, nil},
	{Resource{"batch", "v1", "cronjobs", "CronJob", true}, []string{"cj"}},
	{Resource{"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true}, []string{"hpa"}},
	{Resource{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true}, []string{"pdb"}},
	{Resource{"networking.k8s.io", "v1", "ingresses", "Ingress", true}, []string{"ing"}},
	{Resource{"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true}, []string{"netpol"}},
	{Resource{"networking.k8s.io", "v1", "ingressclasses", "IngressClass", false}, nil},
	{Resource{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true}, nil},
	{Resource{"coordination.k8s.io", "v1", "leases", "Lease", true}, nil},
	{Resource{"rbac.authorization.k8s.io", "v1", "roles", "Role", true}, nil},
	{Resource{"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true}, nil},
	{Resource{"rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false}, nil},
	{Resource{"rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false}, nil},
	{Resource{"storage.k8s.io", "v1", "storageclasses", "StorageClass", false}, []string{"sc"}},
	{Resource{"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false}, []string{"crd", "crds"}},
	{Resource{"admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false}, nil},
	{Resource{"admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", false}, nil},
	{Resource{"scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", false}, []string{"pc"}},
	{Resource{"certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", false}, []string{"csr"}},
	{Resource{"authentication.k8s.io", "v1", "tokenreviews", "TokenReview", false}, nil},
}

// LookupBuiltin resolves a kubectl-style type name (deploy, deployment,
// deployments, deployments.apps, Deployment, deployments.v1.apps) against
// the built-in table.
func LookupBuiltin(name string) (Resource, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return Resource{}, false
	}
	res, group, hasGroup := strings.Cut(n, ".")
	for _, b := range builtins {
		if hasGroup {
			// resource.group or resource.version.group
			if res != b.Resource.Resource && res != strings.ToLower(b.Kind) {
				continue
			}
			if group == b.Group || group == b.Version+"."+b.Group || (b.Group == "" && group == b.Version) {
				return b.Resource, true
			}
			continue
		}
		if n == b.Resource.Resource || n == strings.ToLower(b.Kind) {
			return b.Resource, true
		}
		for _, a := range b.aliases {
			if n == a {
				return b.Resource, true
			}
		}
	}
	return Resource{}, false
}

// ResourceForKind maps an ownerReference's apiVersion and kind to a
// built-in resource.
func ResourceForKind(apiVersion, kind string) (Resource, bool) {
	group := ""
	if i := strings.LastIndexByte(apiVersion, '/'); i >= 0 {
		group = apiVersion[:i]
	}
	for _, b := range builtins {
		if b.Kind == kind && b.Group == group {
			return b.Resource, true
		}
	}
	return Resource{}, false
}

// Mapper resolves type names the static table does not know, typically
// through the cluster's discovery (a RESTMapper).
type Mapper func(name string) (Resource, error)

// ResolveResource resolves a type name: the built-in table first, then the
// mapper (when not nil), then an explicit "resource.group" spelling.
func ResolveResource(name string, mapper Mapper) (Resource, error) {
	if r, ok := LookupBuiltin(name); ok {
		return r, nil
	}
	var mapErr error
	if mapper != nil {
		r, err := mapper(name)
		if err == nil {
			return r, nil
		}
		mapErr = err
	}
	n := strings.ToLower(name)
	if res, group, ok := strings.Cut(n, "."); ok && res != "" && strings.Contains(group, ".") && strings.HasSuffix(res, "s") {
		// widgets.example.com: a plural and a group with a domain. Scope is
		// unknown without discovery; a namespace given with -n decides.
		return Resource{Group: group, Resource: res, Namespaced: true}, nil
	}
	msg := fmt.Sprintf("unknown resource type %q: use a kubectl name (deploy, deployments, deployments.apps, po, svc, cm, ...) or plural.group for custom resources", name)
	if mapErr != nil {
		msg += " (discovery: " + mapErr.Error() + ")"
	}
	return Resource{}, fmt.Errorf("%s", msg)
}

// BuiltinNames lists every name the static table accepts, sorted, for help
// texts and completion.
func BuiltinNames() []string {
	var out []string
	for _, b := range builtins {
		out = append(out, b.Resource.Resource)
		out = append(out, b.aliases...)
	}
	sort.Strings(out)
	return out
}

// ParseObjectArgs reads kubectl's "TYPE/NAME" or "TYPE NAME".
func ParseObjectArgs(args []string) (typ, name string, err error) {
	switch len(args) {
	case 1:
		t, n, ok := strings.Cut(args[0], "/")
		if !ok || t == "" || n == "" {
			return "", "", fmt.Errorf("want TYPE/NAME or TYPE NAME (for example deployment/checkout), got %q", args[0])
		}
		return t, n, nil
	case 2:
		if strings.Contains(args[0], "/") {
			return "", "", fmt.Errorf("want TYPE/NAME or TYPE NAME, got %q %q", args[0], args[1])
		}
		if args[0] == "" || args[1] == "" {
			return "", "", fmt.Errorf("want TYPE NAME, got an empty argument")
		}
		return args[0], args[1], nil
	}
	return "", "", fmt.Errorf("want one object: TYPE/NAME or TYPE NAME (for example deployment/checkout), got %d arguments", len(args))
}
