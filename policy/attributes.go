package policy

import (
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/kubectl-audit/kubectl-audit/audit"
)

// Attributes builds what kube-apiserver's audit filter evaluates the
// policy with (filters.GetAuthorizerAttributes) from a logged event: the
// authenticated user (not the impersonated one: the audit filter runs
// before impersonation), the verb, and the request info: for resource
// requests the group, version, resource, subresource, namespace and name,
// else the path. A request that failed authentication has no user.
//
// The name is the request's: a create's objectRef.name comes from its
// body, after the policy was evaluated, so a create of a resource (not a
// subresource) is evaluated without one, as the apiserver does.
func Attributes(e *audit.Event) authorizer.AttributesRecord {
	a := authorizer.AttributesRecord{Verb: e.Verb, Path: pathOf(e.RequestURI)}
	if e.User.Username != "" || len(e.User.Groups) > 0 {
		u := &user.DefaultInfo{Name: e.User.Username, UID: e.User.UID}
		if len(e.User.Groups) > 0 {
			u.Groups = e.User.Groups
		}
		a.User = u
	}
	r := e.ObjectRef
	if r.Resource == "" {
		return a
	}
	a.ResourceRequest = true
	a.APIGroup, a.APIVersion = r.APIGroup, r.APIVersion
	a.Resource, a.Subresource = r.Resource, r.Subresource
	a.Namespace, a.Name = r.Namespace, r.Name
	if e.Verb == "create" && r.Subresource == "" {
		a.Name = ""
	}
	return a
}

func pathOf(uri string) string {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		return uri[:i]
	}
	return uri
}
