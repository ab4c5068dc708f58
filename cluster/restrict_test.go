package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestResourcesAndDenied: a linker limited to some resources lists no
// other (the ServiceAccount's pods, the pod's owners are "not looked up"),
// and a list RBAC refuses is reported with the API server's message.
func TestResourcesAndDenied(t *testing.T) {
	for _, tc := range []struct {
		name      string
		resources []string
		forbid    string // resource whose list is refused
		// lists made, the ServiceAccount link's state, and the denied message
		lists  []string
		state  string
		denied string
	}{
		{name: "everything", lists: []string{"serviceaccounts", "pods", "replicasets", "deployments"}, state: StateLinked},
		{name: "service accounts and pods only", resources: []string{"serviceaccounts", "pods"},
			lists: []string{"serviceaccounts", "pods"}, state: StateLinked},
		{name: "no service accounts", resources: []string{"pods", "nodes"}, lists: nil, state: StateNotLinked},
		{name: "pods refused", resources: []string{"serviceaccounts", "pods"}, forbid: "pods",
			lists: []string{"serviceaccounts", "pods"}, state: StateLinked, denied: `pods is forbidden: User "cronjob" cannot list resource "pods"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(fixtures()...)
			if tc.forbid != "" {
				cs.PrependReactor("list", tc.forbid, func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: tc.forbid}, "",
						errString(`User "cronjob" cannot list resource "`+tc.forbid+`" in API group "" at the cluster scope`))
				})
			}
			l := NewForClients(cs, nil, nil, Options{Now: func() time.Time { return now }, Resources: tc.resources})
			links := l.User(context.Background(), "system:serviceaccount:traefik:traefik", "")
			var lists []string
			for _, a := range cs.Actions() {
				if a.GetVerb() == "list" {
					lists = append(lists, a.GetResource().Resource)
				}
			}
			if strings.Join(lists, ",") != strings.Join(tc.lists, ",") {
				t.Errorf("lists %v, want %v", lists, tc.lists)
			}
			if len(links) != 1 || links[0].State != tc.state {
				t.Fatalf("links %+v, want one ServiceAccount %s", links, tc.state)
			}
			if tc.state == StateNotLinked && links[0].Reason != NotListed {
				t.Errorf("reason %q, want %q", links[0].Reason, NotListed)
			}
			denied := strings.Join(l.Denied(), "\n")
			if tc.denied == "" && denied != "" || !strings.Contains(denied, tc.denied) {
				t.Errorf("denied %q, want %q", denied, tc.denied)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }
