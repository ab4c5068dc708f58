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
	// ScopeUnknown is set for a custom resource named without discovery:
	// whether it is namespaced is learned from the log.
	ScopeUnknown bool `json:"scopeUnknown,omitempty"`
}

// legacyGroups are the other API groups that served a built-in type on
// older clusters (extensions until 1.16, events.k8s.io for core Events):
// an audit log of such a cluster names the type under them.
var legacyGroups = map[string][]string{
	"deployments.apps":                     {"extensions"},
	"daemonsets.apps":                      {"extensions"},
	"replicasets.apps":                     {"extensions"},
	"ingresses.networking.k8s.io":          {"extensions"},
	"networkpolicies.networking.k8s.io":    {"extensions"},
	"events":                               {"events.k8s.io"},
	"horizontalpodautoscalers.autoscaling": nil,
	"poddisruptionbudgets.policy":          nil,
}

// CanonicalGroup maps a group that served resource on older clusters
// (extensions for deployments) to the group it is served by now, so that
// one object's calls are one timeline whatever group each call used.
func CanonicalGroup(resource, group string) string {
	if group == "" {
		return ""
	}
	for key, olds := range legacyGroups {
		res, now, _ := strings.Cut(key, ".")
		if res != resource {
			continue
		}
		for _, g := range olds {
			if g == group {
				return now
			}
		}
	}
	return group
}

// Groups are every API group that served r: its own and the legacy ones.
func (r Resource) Groups() []string {
	return append([]string{r.Group}, legacyGroups[r.Key()]...)
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

func res(group, version, resource, kind string, namespaced bool) Resource {
	return Resource{Group: group, Version: version, Resource: resource, Kind: kind, Namespaced: namespaced}
}

type builtin struct {
	Resource
	aliases []string
}

// builtins are the core types kubectl users name without discovery. Short
// names are kubectl's (kubectl api-resources); singular is the lower-case kind.
var builtins = []builtin{
	{res("", "v1", "pods", "Pod", true), []string{"po"}},
	{res("", "v1", "services", "Service", true), []string{"svc"}},
	{res("", "v1", "configmaps", "ConfigMap", true), []string{"cm"}},
	{res("", "v1", "secrets", "Secret", true), nil},
	{res("", "v1", "serviceaccounts", "ServiceAccount", true), []string{"sa"}},
	{res("", "v1", "namespaces", "Namespace", false), []string{"ns"}},
	{res("", "v1", "nodes", "Node", false), []string{"no"}},
	{res("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true), []string{"pvc"}},
	{res("", "v1", "persistentvolumes", "PersistentVolume", false), []string{"pv"}},
	{res("", "v1", "endpoints", "Endpoints", true), []string{"ep"}},
	{res("", "v1", "events", "Event", true), []string{"ev"}},
	{res("", "v1", "limitranges", "LimitRange", true), []string{"limits"}},
	{res("", "v1", "resourcequotas", "ResourceQuota", true), []string{"quota"}},
	{res("", "v1", "replicationcontrollers", "ReplicationController", true), []string{"rc"}},
	{res("apps", "v1", "deployments", "Deployment", true), []string{"deploy"}},
	{res("apps", "v1", "replicasets", "ReplicaSet", true), []string{"rs"}},
	{res("apps", "v1", "statefulsets", "StatefulSet", true), []string{"sts"}},
	{res("apps", "v1", "daemonsets", "DaemonSet", true), []string{"ds"}},
	{res("apps", "v1", "controllerrevisions", "ControllerRevision", true), nil},
	{res("batch", "v1", "jobs", "Job", true), nil},
	{res("batch", "v1", "cronjobs", "CronJob", true), []string{"cj"}},
	{res("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true), []string{"hpa"}},
	{res("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true), []string{"pdb"}},
	{res("networking.k8s.io", "v1", "ingresses", "Ingress", true), []string{"ing"}},
	{res("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true), []string{"netpol"}},
	{res("networking.k8s.io", "v1", "ingressclasses", "IngressClass", false), nil},
	{res("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true), nil},
	{res("coordination.k8s.io", "v1", "leases", "Lease", true), nil},
	{res("rbac.authorization.k8s.io", "v1", "roles", "Role", true), nil},
	{res("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true), nil},
	{res("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false), nil},
	{res("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false), nil},
	{res("storage.k8s.io", "v1", "storageclasses", "StorageClass", false), []string{"sc"}},
	{res("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false), []string{"crd", "crds"}},
	{res("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false), nil},
	{res("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", false), nil},
	{res("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", false), []string{"pc"}},
	{res("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", false), []string{"csr"}},
	{res("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", false), nil},
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
			// An old group of the type (deployments.extensions,
			// deployments.v1beta1.extensions) names the same objects.
			for _, g := range legacyGroups[b.Key()] {
				if group == g || strings.HasSuffix(group, "."+g) {
					return b.Resource, true
				}
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
		// unknown without discovery: the log tells (events without a
		// namespace are of a cluster-scoped type), or -n decides.
		return Resource{Group: group, Resource: res, Namespaced: true, ScopeUnknown: true}, nil
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
