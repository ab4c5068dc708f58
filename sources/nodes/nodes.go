package nodes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ControlPlaneLabel marks control-plane nodes (kubeadm, OpenShift, Talos,
// k3s and most installers set it).
const ControlPlaneLabel = "node-role.kubernetes.io/control-plane"

// legacyControlPlaneLabel is what clusters set before Kubernetes 1.24 (and
// OpenShift still does); tried when no node has ControlPlaneLabel.
const legacyControlPlaneLabel = "node-role.kubernetes.io/master"

// KnownDirs are where installers have kube-apiserver write its audit log,
// relative to /var/log/ (what the kubelet serves): kubeadm, OpenShift's
// three API servers, Talos, and kubernetes/ itself.
var KnownDirs = []string{
	"kubernetes/audit/",
	"kube-apiserver/",
	"openshift-apiserver/",
	"oauth-apiserver/",
	"audit/kube/",
	"kubernetes/",
}

// UserAgent is the user agent of our requests, so that users can leave
// them out of their own analyses (userAgent startsWith "kubectl-audit/").
func UserAgent(version string) string {
	if version == "" {
		version = "dev"
	}
	return "kubectl-audit/" + version
}

// Options select the nodes and files.
type Options struct {
	// Names are nodes given by name (--from node/NAME).
	Names []string
	// Selector, with All, picks nodes by label (--node-selector). Empty
	// means ControlPlaneLabel (then the legacy master label if no node has
	// it).
	Selector string
	// All selects nodes by Selector (--from nodes). With neither All nor
	// Names, All is assumed.
	All bool
	// Paths, relative to /var/log/ or absolute under it, are the
	// directories (read whole) or files to read instead of KnownDirs
	// (--node-path). A directory is listed without recursion.
	Paths []string
	// Since and Until prune rotated backups whose name's time puts them
	// wholly outside [Since, Until) before anything is downloaded.
	Since, Until time.Time
	// Version makes the user agent: kubectl-audit/<Version>.
	Version string
	// Parallel bounds the nodes discovered at once (default 4). Reading
	// the files is the caller's: each File opens one request; run at most
	// a few at once.
	Parallel int
	// RequestTimeout bounds each request until its headers arrive
	// (default the config's Timeout, else 30 s); IdleTimeout bounds a
	// download's silence before it is resumed (default 60 s).
	RequestTimeout, IdleTimeout time.Duration
	// Retries is how many times a failed request, or a download stopped
	// at the same byte, is tried again (default 3; -1 for none), waiting
	// Backoff (default 500 ms), then twice as long each time.
	Retries int
	Backoff time.Duration
}

// File is one audit log on one node.
type File struct {
	Node string
	// Path is where it is on the node: /var/log/kubernetes/audit/audit.log.
	Path string
	// Name is what messages call it: node/cp-1:/var/log/kubernetes/audit/audit.log.
	Name string
	// Size is its size when discovered (a live file grows; -1 unknown).
	Size int64
	// Open streams its bytes as they are on disk (compressed or not)
	// through the node proxy, resuming a broken download with a Range
	// request. It holds no copy on disk or in memory. The context given
	// to Discover bounds the download too.
	Open func() (io.ReadCloser, error)
	// OpenAt is Open from byte off of the file as stored (a Range
	// request), for resuming a read where an earlier run stopped. A file
	// renamed or compressed since discovery is not looked for: that is an
	// error.
	OpenAt func(off int64) (io.ReadCloser, error)
}

// Report is what discovery found, node by node.
type Report struct {
	Nodes []NodeReport
}

// NodeReport is one node's outcome.
type NodeReport struct {
	Node string
	// Files are the paths to read, in reading order.
	Files []string
	// Bytes is their size when discovered.
	Bytes int64
	// Pruned are rotated backups left out by the time in their name.
	Pruned []string
	// Err says why the node cannot be read; nil when it can.
	Err error
}

// Failed returns the nodes that cannot be read.
func (r Report) Failed() []NodeReport {
	var out []NodeReport
	for _, n := range r.Nodes {
		if n.Err != nil {
			out = append(out, n)
		}
	}
	return out
}

// Discover selects nodes and finds their audit files through the API
// server's node proxy (GET /api/v1/nodes/NAME/proxy/logs/PATH: the kubelet
// serves /var/log/ with a plain file server). Files come node by node
// (nodes sorted by name), each node's rotated sets oldest first.
//
// A node that cannot be read (no permission, kubelet not answering, no
// audit file) is in the report with its error and the others go on; the
// error is non-nil only when the nodes cannot be selected or none can be
// read.
func Discover(ctx context.Context, cfg *rest.Config, o Options) ([]File, Report, error) {
	if err := o.defaults(cfg); err != nil {
		return nil, Report{}, err
	}
	paths, err := nodePaths(o.Paths)
	if err != nil {
		return nil, Report{}, err
	}
	c, cs, err := newClient(cfg, o)
	if err != nil {
		return nil, Report{}, err
	}
	names, err := selectNodes(ctx, cs, o, c.requestTimeout)
	if err != nil {
		return nil, Report{}, err
	}
	reports := make([]NodeReport, len(names))
	files := make([][]File, len(names))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d := nodeDiscovery{ctx: ctx, c: c, node: name, o: o, paths: paths}
			files[i], reports[i] = d.run()
		}()
	}
	wg.Wait()
	var out []File
	for _, fs := range files {
		out = append(out, fs...)
	}
	rep := Report{Nodes: reports}
	if err := ctx.Err(); err != nil {
		return nil, rep, err
	}
	if len(out) == 0 {
		return nil, rep, noneReadable(rep)
	}
	return out, rep, nil
}

func (o *Options) defaults(cfg *rest.Config) error {
	if cfg == nil {
		return errors.New("reading from nodes needs a cluster: no kubeconfig")
	}
	if !o.All && len(o.Names) == 0 {
		o.All = true
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = cfg.Timeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	switch {
	case o.Retries == 0:
		o.Retries = 3
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	for _, n := range o.Names {
		if n == "" || strings.ContainsAny(n, "/?#% ") {
			return fmt.Errorf("node/%s: not a node name", n)
		}
	}
	return nil
}

// nodePaths normalizes --node-path values to paths relative to /var/log/,
// keeping a trailing slash (a directory for sure).
func nodePaths(in []string) ([]string, error) {
	var out []string
	for _, p := range in {
		dir := strings.HasSuffix(p, "/")
		rel := p
		if strings.HasPrefix(p, "/") {
			var ok bool
			if rel, ok = strings.CutPrefix(path.Clean(p), "/var/log"); !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
				return nil, fmt.Errorf("--node-path %s: the kubelet serves only /var/log/; give a path under it", p)
			}
		}
		rel = strings.TrimPrefix(path.Clean("/"+rel), "/")
		if strings.Contains("/"+rel+"/", "/../") {
			return nil, fmt.Errorf("--node-path %s: must stay under /var/log/", p)
		}
		if dir || rel == "" {
			rel += "/"
		}
		if rel == "/" {
			rel = ""
		}
		out = append(out, rel)
	}
	return out, nil
}

func newClient(cfg *rest.Config, o Options) (*proxyClient, kubernetes.Interface, error) {
	c := rest.CopyConfig(cfg)
	c.UserAgent = UserAgent(o.Version)
	// A download lasts as long as it lasts; RequestTimeout and IdleTimeout
	// bound the waits instead.
	c.Timeout = 0
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		return nil, nil, err
	}
	// Redirects are answers here: http.FileServer redirects a directory
	// named without its trailing slash.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cs, err := kubernetes.NewForConfigAndClient(c, hc)
	if err != nil {
		return nil, nil, err
	}
	base := cs.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes").URL()
	nodesURL, err := url.Parse(base.String())
	if err != nil {
		return nil, nil, err
	}
	nodesURL.RawQuery = ""
	return &proxyClient{
		hc: hc, nodesURL: nodesURL,
		requestTimeout: o.RequestTimeout, idleTimeout: o.IdleTimeout,
		retries: o.Retries, backoff: o.Backoff,
	}, cs, nil
}

// selectNodes returns the names of the nodes to read, sorted.
func selectNodes(ctx context.Context, cs kubernetes.Interface, o Options, timeout time.Duration) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range o.Names {
		add(n)
	}
	if o.All {
		sel, isDefault := o.Selector, o.Selector == ""
		if isDefault {
			sel = ControlPlaneLabel
		} else if _, err := labels.Parse(sel); err != nil {
			return nil, fmt.Errorf("--node-selector %q: %w", sel, err)
		}
		found, err := listNodes(ctx, cs, sel, timeout)
		if err == nil && len(found) == 0 && isDefault {
			found, err = listNodes(ctx, cs, legacyControlPlaneLabel, timeout)
		}
		if err != nil {
			return nil, err
		}
		if len(found) == 0 && len(names) == 0 {
			return nil, &NoNodesError{Selector: sel, Default: isDefault}
		}
		for _, n := range found {
			add(n)
		}
	}
	sort.Strings(names)
	return names, nil
}

func listNodes(ctx context.Context, cs kubernetes.Interface, selector string, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// ResourceVersion "0": served from the API server's cache, not etcd.
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: "0"})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return nil, &PermissionError{Verb: "list", Resource: "nodes", Message: err.Error()}
		}
		return nil, fmt.Errorf("listing nodes (%s): %w", selector, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, n := range list.Items {
		names = append(names, n.Name)
	}
	return names, nil
}

// noneReadable is Discover's error when no node gave a file: one
// PermissionError for all the nodes refused (one rule to print), joined
// with the other nodes' errors.
func noneReadable(rep Report) error {
	var perm *PermissionError
	var errs []error
	for _, n := range rep.Nodes {
		var pe *PermissionError
		if errors.As(n.Err, &pe) {
			if perm == nil {
				perm = &PermissionError{Verb: pe.Verb, Resource: pe.Resource, Message: pe.Message}
			}
			perm.Nodes = append(perm.Nodes, n.Node)
			continue
		}
		errs = append(errs, n.Err)
	}
	if perm != nil {
		errs = append([]error{perm}, errs...)
	}
	if len(errs) == 0 {
		return errors.New("no nodes to read")
	}
	return errors.Join(errs...)
}
