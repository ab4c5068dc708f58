package cluster

import (
	"context"
	"fmt"

	"github.com/kubectl-audit/kubectl-audit/why"
)

// TimelineObject looks up the object of a why timeline: "gone" when the
// log's last uid is not the live one.
func (l *Linker) TimelineObject(ctx context.Context, r why.Resource, tl *why.Timeline) Link {
	uid := ""
	if len(tl.UIDs) > 0 {
		uid = tl.UIDs[len(tl.UIDs)-1]
	}
	link := l.Object(ctx, ObjectQuery{Group: r.Group, Version: r.Version, Resource: r.Resource,
		Namespace: tl.Object.Namespace, Name: tl.Object.Name, UID: uid})
	if link.Kind == r.Resource && r.Kind != "" {
		link.Kind = r.Kind
	}
	return link
}

// TimelineReasons links each distinct RBAC binding and mutating webhook
// configuration a why timeline names to what is in the cluster now.
func (l *Linker) TimelineReasons(ctx context.Context, tl *why.Timeline) (authz, hooks []Link) {
	if ok, _ := l.Available(); !ok {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, e := range tl.Entries {
		if a := e.Authorization; a != nil && a.BindingName != "" {
			b := Binding{Kind: a.BindingKind, Name: a.BindingName, Namespace: a.BindingNamespace, RoleKind: a.RoleKind,
				RoleName: a.RoleName, SubjectKind: a.SubjectKind, SubjectName: a.SubjectName, SubjectNamespace: a.SubjectNamespace}
			key := fmt.Sprintf("%+v", b)
			if !seen[key] {
				seen[key] = true
				authz = append(authz, l.RBAC(ctx, b)...)
			}
		}
		for _, w := range e.Webhooks {
			key := "webhook/" + w.Configuration + "/" + w.Webhook
			if w.Configuration != "" && !seen[key] {
				seen[key] = true
				hooks = append(hooks, l.Webhook(ctx, w.Configuration, w.Webhook))
			}
		}
	}
	return dedupeLinks(authz), hooks
}
