package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Link states.
const (
	// StateLinked: the live object was found (and is the same object).
	StateLinked = "linked"
	// StateGone: the object no longer exists, or an object with the same
	// name but another uid replaced it.
	StateGone = "gone"
	// StateChanged: the object exists but differs from what the log says
	// (an RBAC binding no longer grants the same role to the subject).
	StateChanged = "changed"
	// StateNotLinked: the lookup could not be made; Reason says why.
	StateNotLinked = "not linked"
)

// Link is one live object behind something in the log.
type Link struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	UID       string `json:"uid,omitempty"`
	State     string `json:"state"`
	// Reason says why the link is not linked, gone or changed.
	Reason string `json:"reason,omitempty"`
	// Summary is the object's state in a few words ("Ready, kubelet
	// v1.37.2, age 3d", "Running on worker-1, 10.0.0.7").
	Summary string `json:"summary,omitempty"`
	// Created is metadata.creationTimestamp.
	Created *time.Time `json:"created,omitempty"`
	// Deleting is metadata.deletionTimestamp: the object is Terminating.
	Deleting *time.Time `json:"deleting,omitempty"`
	// Owners is the owner chain, nearest first.
	Owners []Link `json:"owners,omitempty"`
	// Related are objects found through this one: a service account's
	// pods and workloads, a webhook's service, a binding's role.
	Related []Link `json:"related,omitempty"`
}

// String is "Node worker-1 (linked: Ready, kubelet v1.37.2)".
func (l Link) String() string {
	id := l.Kind
	if l.Name != "" {
		id += " "
		if l.Namespace != "" {
			id += l.Namespace + "/"
		}
		id += l.Name
	}
	detail := l.State
	if l.Reason != "" {
		detail += ": " + l.Reason
	}
	if l.Summary != "" {
		detail += "; " + l.Summary
	}
	return id + " (" + detail + ")"
}

func notLinked(kind, ns, name, reason string) Link {
	return Link{Kind: kind, Namespace: ns, Name: name, State: StateNotLinked, Reason: reason}
}

// Options tunes the linker.
type Options struct {
	// Timeout bounds each list call; 0 means DefaultTimeout. The root's
	// --request-timeout sets it.
	Timeout time.Duration
	// Now is the clock for ages; nil means time.Now.
	Now func() time.Time
	// Resources, when set, are the only resources the linker lists
	// ("nodes", "pods", "mutatingwebhookconfigurations.admissionregistration.k8s.io"):
	// links that need another are "not linked" without a request, so a
	// client with a narrow role makes no call it would be refused.
	Resources []string
}

// DefaultTimeout bounds one list when --request-timeout is not set.
const DefaultTimeout = 10 * time.Second

// Linker answers lookups from cached lists. It is safe for concurrent use.
type Linker struct {
	opts Options

	initOnce sync.Once
	getter   genericclioptions.RESTClientGetter
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	mapper   meta.RESTMapper
	initErr  error

	mu    sync.Mutex
	lists map[string]*listResult
	// down is set after a lookup failed in a way every later lookup would
	// (unreachable, timeout, unauthorized): no more calls are made.
	down string
	// denied are the API server's messages of lookups refused by RBAC.
	denied []string
}

type listResult struct {
	once  sync.Once
	items any
	err   error
}

// New returns a linker over the root command's kubeconfig flags. Clients
// are made on first use; a missing kubeconfig makes every link "not linked:
// no cluster".
func New(getter genericclioptions.RESTClientGetter, opts Options) *Linker {
	return &Linker{getter: getter, opts: opts, lists: map[string]*listResult{}}
}

// NewForClients returns a linker over given clients (tests, or callers that
// already hold clients). dyn and mapper may be nil: objectRef lookups of
// types other than the built-in ones are then "not linked".
func NewForClients(kube kubernetes.Interface, dyn dynamic.Interface, mapper meta.RESTMapper, opts Options) *Linker {
	l := &Linker{kube: kube, dyn: dyn, mapper: mapper, opts: opts, lists: map[string]*listResult{}}
	l.initOnce.Do(func() {})
	return l
}

// NoCluster is the reason given when no kubeconfig is available.
const NoCluster = "no cluster"

func (l *Linker) init() error {
	l.initOnce.Do(func() {
		if l.getter == nil {
			l.initErr = errors.New(NoCluster)
			return
		}
		cfg, err := l.getter.ToRESTConfig()
		if err != nil {
			if clientcmd.IsEmptyConfig(err) {
				l.initErr = errors.New(NoCluster)
			} else {
				l.initErr = fmt.Errorf("%s: %v", NoCluster, err)
			}
			return
		}
		if raw, rerr := l.getter.ToRawKubeConfigLoader().RawConfig(); rerr == nil && len(raw.Clusters) == 0 &&
			strings.TrimPrefix(cfg.Host, "http://") == "localhost:8080" {
			// No kubeconfig: client-go's fallback is localhost:8080,
			// which is not a cluster the user chose.
			l.initErr = errors.New(NoCluster)
			return
		}
		if l.opts.Timeout == 0 && cfg.Timeout > 0 {
			l.opts.Timeout = cfg.Timeout
		}
		if l.kube, err = kubernetes.NewForConfig(cfg); err != nil {
			l.initErr = fmt.Errorf("%s: %v", NoCluster, err)
			return
		}
		if l.dyn, err = dynamic.NewForConfig(cfg); err != nil {
			l.initErr = fmt.Errorf("%s: %v", NoCluster, err)
			return
		}
		// The mapper runs discovery lazily, only for types the built-in
		// table does not know.
		if m, err := l.getter.ToRESTMapper(); err == nil {
			l.mapper = m
		}
	})
	return l.initErr
}

// Available reports whether a cluster is configured and no lookup has
// failed for a reason every lookup would share; with the reason otherwise.
func (l *Linker) Available() (bool, string) {
	if err := l.init(); err != nil {
		return false, err.Error()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down != "" {
		return false, l.down
	}
	return true, ""
}

func (l *Linker) now() time.Time {
	if l.opts.Now != nil {
		return l.opts.Now()
	}
	return time.Now()
}

// list runs fn once per key per linker and caches its result (or error).
func (l *Linker) list(ctx context.Context, key string, fn func(ctx context.Context) (any, error)) (any, error) {
	if err := l.init(); err != nil {
		return nil, err
	}
	if !l.mayList(key) {
		return nil, reasonError(NotListed)
	}
	l.mu.Lock()
	if l.down != "" {
		l.mu.Unlock()
		return nil, reasonError(l.down)
	}
	r := l.lists[key]
	if r == nil {
		r = &listResult{}
		l.lists[key] = r
	}
	l.mu.Unlock()
	r.once.Do(func() {
		timeout := l.opts.Timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		r.items, r.err = fn(cctx)
		if r.err != nil {
			if apierrors.IsForbidden(r.err) {
				l.mu.Lock()
				l.denied = append(l.denied, r.err.Error())
				l.mu.Unlock()
			}
			reason := Reason(r.err)
			r.err = reasonError(reason)
			if clusterWide(reason) {
				l.mu.Lock()
				l.down = reason
				l.mu.Unlock()
			}
		}
	})
	return r.items, r.err
}

// NotListed is the reason of a link whose resource is not in
// Options.Resources.
const NotListed = "not looked up: the resource is not among those this run may list"

// mayList reports whether the list a cache key names is allowed by
// Options.Resources. Keys are the resource ("nodes") or
// "objects:RESOURCE.GROUP"; "index:..." keys list through others.
func (l *Linker) mayList(key string) bool {
	if l.opts.Resources == nil || strings.HasPrefix(key, "index:") {
		return true
	}
	res := strings.TrimPrefix(key, "objects:")
	res = strings.TrimSuffix(res, ".") // a core resource: "serviceaccounts."
	if !strings.Contains(res, ".") {
		if k := kindOf(schema.GroupVersionResource{Resource: res}); k == "" {
			// A group's resource named by its plural alone
			// ("mutatingwebhookconfigurations"): find its group.
			for _, r := range kinds {
				if r.Resource == res && r.Group != "" {
					res += "." + r.Group
					break
				}
			}
		}
	}
	for _, r := range l.opts.Resources {
		if r == res {
			return true
		}
	}
	return false
}

// Denied returns the API server's messages for the lookups RBAC refused
// (each list once), in the order they were made.
func (l *Linker) Denied() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.denied...)
}

// reasonError is an error already turned into its reason.
type reasonError string

func (e reasonError) Error() string { return string(e) }

// clusterWide reasons make every later call fail the same way.
func clusterWide(reason string) bool {
	return reason == "timeout" || reason == "unauthorized" || strings.HasPrefix(reason, "unreachable")
}

// Reason turns a lookup error into the short reason printed after "not
// linked: ": no cluster, forbidden, unauthorized, timeout, unreachable.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var netErr net.Error
	var opErr *net.OpError
	var re reasonError
	switch {
	case errors.As(err, &re):
		return string(re)
	case strings.HasPrefix(err.Error(), NoCluster):
		return err.Error()
	case apierrors.IsForbidden(err):
		return "forbidden"
	case apierrors.IsUnauthorized(err):
		return "unauthorized"
	case errors.Is(err, context.DeadlineExceeded), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err),
		errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &opErr), strings.Contains(err.Error(), "connection refused"), strings.Contains(err.Error(), "no such host"):
		return "unreachable: " + shortErr(err)
	case apierrors.IsNotFound(err):
		return "not served by this cluster"
	}
	return shortErr(err)
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// gvr is a resource the linker lists.
func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// age renders a duration as kubectl does, roughly: 45s, 12m, 5h, 3d.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
