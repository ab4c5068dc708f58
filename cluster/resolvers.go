package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// StateNotFound: no live object matches (an address no node or pod has).
const StateNotFound = "not found"

// maxRelated bounds the pods listed under one service account.
const maxRelated = 10

// ipIndex maps addresses to nodes and pods.
type ipIndex struct {
	nodes map[string]object
}

func (l *Linker) ips(ctx context.Context) (*ipIndex, error) {
	v, err := l.list(ctx, "index:ips", func(ctx context.Context) (any, error) {
		nodes, err := l.nodes(ctx)
		if err != nil {
			return nil, err
		}
		idx := &ipIndex{nodes: map[string]object{}}
		now := l.now()
		for i := range nodes {
			for _, a := range nodes[i].Status.Addresses {
				if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
					idx.nodes[a.Address] = nodeObject(&nodes[i], now)
				}
			}
		}
		return idx, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*ipIndex), nil
}

// nodes lists nodes once.
func (l *Linker) nodes(ctx context.Context) ([]corev1.Node, error) {
	v, err := l.list(ctx, "nodes", func(ctx context.Context) (any, error) {
		list, err := l.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return list.Items, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]corev1.Node), nil
}

// pods lists pods once; the raw list serves IP, service-account and owner
// lookups.
func (l *Linker) pods(ctx context.Context) ([]corev1.Pod, error) {
	v, err := l.list(ctx, "pods", func(ctx context.Context) (any, error) {
		list, err := l.kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return list.Items, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]corev1.Pod), nil
}

// SourceIP links a source address to the Node that has it (InternalIP or
// ExternalIP), else to the pods that have it as pod IP (host-network pods
// share their node's address), else reports "not found".
func (l *Linker) SourceIP(ctx context.Context, ip string) Link {
	idx, err := l.ips(ctx)
	if err != nil {
		return notLinked("Node", "", "", err.Error())
	}
	if n, ok := idx.nodes[ip]; ok {
		return linkOf(n)
	}
	pods, err := l.pods(ctx)
	if err != nil {
		return notLinked("Pod", "", "", err.Error())
	}
	var hits []Link
	for i := range pods {
		p := &pods[i]
		match := p.Status.PodIP == ip
		for _, a := range p.Status.PodIPs {
			match = match || a.IP == ip
		}
		if match && !p.Spec.HostNetwork {
			hits = append(hits, l.withOwners(ctx, linkOf(podObject(p)), p.OwnerReferences, p.Namespace))
		}
	}
	if len(hits) == 0 {
		return Link{Kind: "Node", State: StateNotFound, Reason: "no node or pod has address " + ip}
	}
	sortLinks(hits)
	first := hits[0]
	if len(hits) > 1 {
		first.Related = hits[1:]
	}
	return first
}

// Node links a node name (system:node:<n>, the bound-token node-name
// extra) to the Node: Ready, kubelet version, age.
func (l *Linker) Node(ctx context.Context, name string) Link {
	set, err := l.objects(ctx, kinds["Node"])
	if err != nil {
		return notLinked("Node", "", name, err.Error())
	}
	n, ok := set.get("", name)
	if !ok {
		return Link{Kind: "Node", Name: name, State: StateGone, Reason: "no such node"}
	}
	return linkOf(n)
}

// ServiceAccount links a service account to its live object, the pods
// running as it and their owning workloads.
func (l *Linker) ServiceAccount(ctx context.Context, namespace, name string) Link {
	set, err := l.objects(ctx, kinds["ServiceAccount"])
	if err != nil {
		return notLinked("ServiceAccount", namespace, name, err.Error())
	}
	sa, ok := set.get(namespace, name)
	if !ok {
		return Link{Kind: "ServiceAccount", Namespace: namespace, Name: name, State: StateGone, Reason: "no such service account"}
	}
	link := linkOf(sa)
	pods, err := l.pods(ctx)
	if err != nil {
		link.Related = append(link.Related, notLinked("Pod", namespace, "", err.Error()))
		return link
	}
	var related []Link
	n := 0
	for i := range pods {
		p := &pods[i]
		saName := p.Spec.ServiceAccountName
		if saName == "" {
			saName = "default"
		}
		if p.Namespace != namespace || saName != name {
			continue
		}
		n++
		if len(related) < maxRelated {
			related = append(related, l.withOwners(ctx, linkOf(podObject(p)), p.OwnerReferences, p.Namespace))
		}
	}
	sortLinks(related)
	link.Related = related
	if n > len(related) {
		link.Summary = strings.TrimPrefix(fmt.Sprintf("%s, %d pods (%d shown)", link.Summary, n, len(related)), ", ")
	} else if n > 0 {
		link.Summary = strings.TrimPrefix(fmt.Sprintf("%s, %d pods", link.Summary, n), ", ")
	}
	return link
}

// User links an audit username: system:node:<n> to its Node,
// system:serviceaccount:<ns>:<n> to its ServiceAccount (and pods); nodeName
// is the bound-token node-name extra, linked to its Node as well. Other
// users have no live object: the result is empty.
func (l *Linker) User(ctx context.Context, username, nodeName string) []Link {
	var out []Link
	if n, ok := strings.CutPrefix(username, "system:node:"); ok {
		out = append(out, l.Node(ctx, n))
	} else if rest, ok := strings.CutPrefix(username, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok {
			out = append(out, l.ServiceAccount(ctx, ns, name))
		}
	}
	if nodeName != "" && !strings.HasSuffix(username, ":"+nodeName) {
		out = append(out, l.Node(ctx, nodeName))
	}
	return out
}

// ObjectQuery names an object from an audit event's objectRef.
type ObjectQuery struct {
	Group, Version, Resource string
	Namespace, Name          string
	// UID, when known, tells the logged object from a namesake.
	UID string
}

// Object links an objectRef to the live object and its owner chain:
// "gone" when it no longer exists or another object (another uid) now has
// its name.
func (l *Linker) Object(ctx context.Context, q ObjectQuery) Link {
	kind := kindOf(schema.GroupVersionResource{Group: q.Group, Resource: q.Resource})
	if kind == "" {
		kind = q.Resource
	}
	res, err := l.resolve(q)
	if err != nil {
		return notLinked(kind, q.Namespace, q.Name, Reason(err))
	}
	set, err := l.objects(ctx, res)
	if err != nil {
		return notLinked(kind, q.Namespace, q.Name, err.Error())
	}
	o, ok := set.get(q.Namespace, q.Name)
	if !ok {
		return Link{Kind: kind, Namespace: q.Namespace, Name: q.Name, UID: q.UID, State: StateGone, Reason: "not found"}
	}
	link := linkOf(o)
	if q.UID != "" && o.uid != q.UID {
		link.State = StateGone
		link.Reason = fmt.Sprintf("recreated: the live object has uid %s", o.uid)
		if o.created != nil {
			link.Reason += ", created " + o.created.Format("2006-01-02T15:04:05Z")
		}
		link.UID = q.UID
	}
	return l.withOwners(ctx, link, o.owners, o.namespace)
}

// resolve finds the version of a resource: the known kinds first, then the
// RESTMapper (discovery).
func (l *Linker) resolve(q ObjectQuery) (schema.GroupVersionResource, error) {
	for _, r := range kinds {
		if r.Group == q.Group && r.Resource == q.Resource {
			return r, nil
		}
	}
	if q.Version != "" {
		return gvr(q.Group, q.Version, q.Resource), nil
	}
	if err := l.init(); err != nil {
		return schema.GroupVersionResource{}, err
	}
	if l.mapper == nil {
		return schema.GroupVersionResource{}, fmt.Errorf("unknown resource %s.%s (no discovery)", q.Resource, q.Group)
	}
	return l.mapper.ResourceFor(schema.GroupVersionResource{Group: q.Group, Resource: q.Resource})
}

// withOwners resolves the owner chain (controller references first) from
// the cached lists, up to 5 levels.
func (l *Linker) withOwners(ctx context.Context, link Link, refs []metav1.OwnerReference, namespace string) Link {
	for depth := 0; depth < 5 && len(refs) > 0; depth++ {
		ref := refs[0]
		for _, r := range refs {
			if r.Controller != nil && *r.Controller {
				ref = r
				break
			}
		}
		res, ok := kinds[ref.Kind]
		if !ok && l.mapper != nil {
			gv, err := schema.ParseGroupVersion(ref.APIVersion)
			if err == nil {
				if m, err := l.mapper.RESTMapping(gv.WithKind(ref.Kind).GroupKind(), gv.Version); err == nil {
					res, ok = m.Resource, true
				}
			}
		}
		if !ok {
			link.Owners = append(link.Owners, notLinked(ref.Kind, namespace, ref.Name, "unknown kind"))
			return link
		}
		set, err := l.objects(ctx, res)
		if err != nil {
			link.Owners = append(link.Owners, notLinked(ref.Kind, namespace, ref.Name, err.Error()))
			return link
		}
		ns := namespace
		if _, found := set.get(ns, ref.Name); !found {
			if _, found := set.get("", ref.Name); found {
				ns = "" // cluster-scoped owner
			}
		}
		o, found := set.get(ns, ref.Name)
		if !found || o.uid != string(ref.UID) {
			reason := "not found"
			if found {
				reason = "recreated: the live object has uid " + o.uid
			}
			link.Owners = append(link.Owners, Link{Kind: ref.Kind, Namespace: namespace, Name: ref.Name, UID: string(ref.UID),
				State: StateGone, Reason: reason})
			return link
		}
		link.Owners = append(link.Owners, linkOf(o))
		refs = o.owners
	}
	return link
}

// Binding is an RBAC grant as parsed from authorization.k8s.io/reason.
type Binding struct {
	Kind, Name, Namespace string // ClusterRoleBinding or RoleBinding
	RoleKind, RoleName    string
	SubjectKind           string // User, Group, ServiceAccount
	SubjectName           string
	SubjectNamespace      string
}

// RBAC links the binding and the role that allowed a request, flagged
// "changed" when the binding now names another role or no longer has the
// subject, and "gone" when deleted.
func (l *Linker) RBAC(ctx context.Context, b Binding) []Link {
	var roleRef rbacv1.RoleRef
	var subjects []rbacv1.Subject
	bl := Link{Kind: b.Kind, Namespace: b.Namespace, Name: b.Name}
	switch b.Kind {
	case "ClusterRoleBinding":
		v, err := l.list(ctx, "clusterrolebindings", func(ctx context.Context) (any, error) {
			list, err := l.kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return list.Items, nil
		})
		if err != nil {
			return []Link{notLinked(b.Kind, "", b.Name, err.Error())}
		}
		found := false
		for _, x := range v.([]rbacv1.ClusterRoleBinding) {
			if x.Name == b.Name {
				found, roleRef, subjects = true, x.RoleRef, x.Subjects
				bl = linkOf(metaOf(b.Kind, x.ObjectMeta))
			}
		}
		if !found {
			bl.State, bl.Reason = StateGone, "deleted since"
		}
	case "RoleBinding":
		v, err := l.list(ctx, "rolebindings", func(ctx context.Context) (any, error) {
			list, err := l.kube.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return list.Items, nil
		})
		if err != nil {
			return []Link{notLinked(b.Kind, b.Namespace, b.Name, err.Error())}
		}
		found := false
		for _, x := range v.([]rbacv1.RoleBinding) {
			if x.Name == b.Name && x.Namespace == b.Namespace {
				found, roleRef, subjects = true, x.RoleRef, x.Subjects
				bl = linkOf(metaOf(b.Kind, x.ObjectMeta))
			}
		}
		if !found {
			bl.State, bl.Reason = StateGone, "deleted since"
		}
	default:
		return []Link{notLinked(b.Kind, b.Namespace, b.Name, "not an RBAC binding")}
	}
	if bl.State == StateLinked {
		var changes []string
		if roleRef.Kind != b.RoleKind || roleRef.Name != b.RoleName {
			changes = append(changes, fmt.Sprintf("now grants %s %q", roleRef.Kind, roleRef.Name))
		}
		if !hasSubject(subjects, b) {
			changes = append(changes, fmt.Sprintf("no longer binds %s %q", b.SubjectKind, subjectString(b)))
		}
		if len(changes) > 0 {
			bl.State, bl.Reason = StateChanged, strings.Join(changes, "; ")
		}
		bl.Summary = fmt.Sprintf("%s %s, %d subjects", roleRef.Kind, roleRef.Name, len(subjects))
	}
	return []Link{bl, l.role(ctx, b.RoleKind, b.RoleName, b.Namespace)}
}

func subjectString(b Binding) string {
	if b.SubjectNamespace != "" {
		return b.SubjectNamespace + "/" + b.SubjectName
	}
	return b.SubjectName
}

func hasSubject(subjects []rbacv1.Subject, b Binding) bool {
	for _, s := range subjects {
		if s.Kind != b.SubjectKind || s.Name != b.SubjectName {
			continue
		}
		if s.Kind == rbacv1.ServiceAccountKind && s.Namespace != b.SubjectNamespace {
			continue
		}
		return true
	}
	return false
}

func (l *Linker) role(ctx context.Context, kind, name, namespace string) Link {
	switch kind {
	case "ClusterRole":
		v, err := l.list(ctx, "clusterroles", func(ctx context.Context) (any, error) {
			list, err := l.kube.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return list.Items, nil
		})
		if err != nil {
			return notLinked(kind, "", name, err.Error())
		}
		for _, x := range v.([]rbacv1.ClusterRole) {
			if x.Name == name {
				r := linkOf(metaOf(kind, x.ObjectMeta))
				r.Summary = fmt.Sprintf("%d rules", len(x.Rules))
				return r
			}
		}
		return Link{Kind: kind, Name: name, State: StateGone, Reason: "deleted since"}
	case "Role":
		v, err := l.list(ctx, "roles", func(ctx context.Context) (any, error) {
			list, err := l.kube.RbacV1().Roles("").List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return list.Items, nil
		})
		if err != nil {
			return notLinked(kind, namespace, name, err.Error())
		}
		for _, x := range v.([]rbacv1.Role) {
			if x.Name == name && x.Namespace == namespace {
				r := linkOf(metaOf(kind, x.ObjectMeta))
				r.Summary = fmt.Sprintf("%d rules", len(x.Rules))
				return r
			}
		}
		return Link{Kind: kind, Namespace: namespace, Name: name, State: StateGone, Reason: "deleted since"}
	}
	return notLinked(kind, namespace, name, "not an RBAC role")
}

// Webhook links an admission webhook, named by its configuration (and
// webhook name) in the mutation/patch annotations, to the live
// MutatingWebhookConfiguration (or Validating...) and the service it calls.
func (l *Linker) Webhook(ctx context.Context, configuration, webhook string) Link {
	mv, err := l.list(ctx, "mutatingwebhookconfigurations", func(ctx context.Context) (any, error) {
		list, err := l.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return list.Items, nil
	})
	if err != nil {
		return notLinked("MutatingWebhookConfiguration", "", configuration, err.Error())
	}
	for _, c := range mv.([]admissionv1.MutatingWebhookConfiguration) {
		if c.Name != configuration {
			continue
		}
		link := linkOf(metaOf("MutatingWebhookConfiguration", c.ObjectMeta))
		for _, w := range c.Webhooks {
			if webhook == "" || w.Name == webhook {
				return l.webhookTarget(ctx, link, w.Name, w.ClientConfig, w.FailurePolicy)
			}
		}
		link.State, link.Reason = StateChanged, fmt.Sprintf("no webhook %q in it any more", webhook)
		return link
	}
	vv, err := l.list(ctx, "validatingwebhookconfigurations", func(ctx context.Context) (any, error) {
		list, err := l.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return list.Items, nil
	})
	if err != nil {
		return notLinked("ValidatingWebhookConfiguration", "", configuration, err.Error())
	}
	for _, c := range vv.([]admissionv1.ValidatingWebhookConfiguration) {
		if c.Name != configuration {
			continue
		}
		link := linkOf(metaOf("ValidatingWebhookConfiguration", c.ObjectMeta))
		for _, w := range c.Webhooks {
			if webhook == "" || w.Name == webhook {
				return l.webhookTarget(ctx, link, w.Name, w.ClientConfig, w.FailurePolicy)
			}
		}
		link.State, link.Reason = StateChanged, fmt.Sprintf("no webhook %q in it any more", webhook)
		return link
	}
	return Link{Kind: "MutatingWebhookConfiguration", Name: configuration, State: StateGone, Reason: "no such mutating or validating webhook configuration"}
}

func (l *Linker) webhookTarget(ctx context.Context, link Link, name string, cc admissionv1.WebhookClientConfig, fp *admissionv1.FailurePolicyType) Link {
	parts := []string{"webhook " + name}
	if fp != nil {
		parts = append(parts, "failurePolicy "+string(*fp))
	}
	switch {
	case cc.Service != nil:
		set, err := l.objects(ctx, kinds["Service"])
		switch {
		case err != nil:
			link.Related = append(link.Related, notLinked("Service", cc.Service.Namespace, cc.Service.Name, err.Error()))
		default:
			if s, ok := set.get(cc.Service.Namespace, cc.Service.Name); ok {
				link.Related = append(link.Related, linkOf(s))
			} else {
				link.Related = append(link.Related, Link{Kind: "Service", Namespace: cc.Service.Namespace, Name: cc.Service.Name,
					State: StateGone, Reason: "the webhook's service does not exist"})
			}
		}
	case cc.URL != nil:
		parts = append(parts, "url "+*cc.URL)
	}
	link.Summary = strings.Join(parts, ", ")
	return link
}

func sortLinks(ls []Link) {
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].Namespace != ls[j].Namespace {
			return ls[i].Namespace < ls[j].Namespace
		}
		return ls[i].Name < ls[j].Name
	})
}
