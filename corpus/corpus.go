package corpus

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// Options shape a corpus.
type Options struct {
	// Size is the approximate number of bytes to write.
	Size int64
	// Nodes is the number of kubelets. Default 500.
	Nodes int
	// Start is the first requestReceivedTimestamp. Default 2026-11-24T00:00:00Z.
	Start time.Time
	// RPS is the event rate that spaces timestamps. Default 1000.
	RPS float64
	// Seed makes the output reproducible.
	Seed uint64
	// Shape is "" (the project's original mix) or ShapeLarge.
	Shape string
}

// ShapeLarge is the shape of a large real cluster's log: user.extra
// credential ids on most events (bound service-account tokens carry the
// token's JTI and the pod and node it is bound to, as kube-apiserver
// writes them), apiserver.latency.k8s.io/* annotations with µs values on a
// third of the events, about 2,500 distinct users (service accounts of
// workloads in 300 namespaces), more RequestResponse bodies and 4xx, and
// watches that last 30-60 minutes, so that a log cut at any moment holds
// tens of thousands still open (their ResponseComplete not yet written).
const ShapeLarge = "large"

// Generate writes a corpus to w and returns the number of events written.
func Generate(w io.Writer, o Options) (int64, error) {
	if o.Nodes <= 0 {
		o.Nodes = 500
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	}
	if o.RPS <= 0 {
		o.RPS = 1000
	}
	g := &gen{
		o:   o,
		rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		bw:  bufio.NewWriterSize(w, 1<<20),
		now: o.Start,
	}
	for g.written < o.Size {
		g.next()
		if g.err != nil {
			return g.events, g.err
		}
	}
	if o.Shape != ShapeLarge {
		for _, p := range g.open {
			g.emit(p.ev.withStage("ResponseComplete", p.end))
		}
	}
	if g.err != nil {
		return g.events, g.err
	}
	return g.events, g.bw.Flush()
}

type gen struct {
	o       Options
	rng     *rand.Rand
	bw      *bufio.Writer
	buf     []byte
	now     time.Time
	written int64
	events  int64
	err     error
	id      uint64
	open    []openWatch
}

type openWatch struct {
	ev  event
	end time.Time
}

type event struct {
	level, stage, uri, verb        string
	user, userAgent, sourceIP      string
	groups                         []string
	extra                          [][2]string
	resource, sub, ns, name, group string
	apiVersion                     string
	code                           int
	reason, message                string
	received, stageT               time.Time
	decision, authzReason          string
	requestObject, responseObject  string
	auditID                        string
	latencyAnnotations, mutatedBy  bool
}

func (e event) withStage(stage string, t time.Time) event {
	e.stage = stage
	e.stageT = t
	return e
}

var (
	nodeGroups = []string{"system:nodes", "system:authenticated"}
	saGroups   = func(ns string) []string {
		return []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	controllers = []struct{ sa, resource, group, verb string }{
		{"replicaset-controller", "replicasets", "apps", "update"},
		{"deployment-controller", "deployments", "apps", "update"},
		{"endpointslice-controller", "endpointslices", "discovery.k8s.io", "update"},
		{"generic-garbage-collector", "pods", "", "patch"},
		{"namespace-controller", "namespaces", "", "get"},
		{"node-controller", "nodes", "", "get"},
		{"daemon-set-controller", "daemonsets", "apps", "update"},
		{"job-controller", "jobs", "batch", "update"},
	}
	namespaces = []string{"default", "kube-system", "monitoring", "ingress", "payments", "web", "data", "ci"}
	humans     = []string{"alice@example.com", "bob@example.com", "ci-deployer", "oncall@example.com"}
)

func (g *gen) nodeName(i int) string {
	return "ip-10-1-" + strconv.Itoa(i/250) + "-" + strconv.Itoa(i%250+1)
}
func (g *gen) nodeIP(i int) string {
	return "10.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250+1)
}

func (g *gen) auditID() string {
	g.id++
	h := g.id*0x9e3779b97f4a7c15 ^ g.o.Seed
	const hex = "0123456789abcdef"
	b := make([]byte, 36)
	x := h
	y := h*0xbf58476d1ce4e5b9 + g.id
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
			continue
		}
		if i < 18 {
			b[i] = hex[x&15]
			x >>= 4
		} else {
			b[i] = hex[y&15]
			y >>= 4
		}
	}
	return string(b)
}

// next writes one request (one or two events).
func (g *gen) next() {
	g.now = g.now.Add(time.Duration(float64(time.Second) / g.o.RPS * (0.5 + g.rng.Float64())))
	// Close watches whose time is up.
	for len(g.open) > 0 && g.open[0].end.Before(g.now) {
		g.emit(g.open[0].ev.withStage("ResponseComplete", g.open[0].end))
		g.open = g.open[1:]
	}
	node := g.rng.IntN(g.o.Nodes)
	r := g.rng.Float64()
	if g.o.Shape == ShapeLarge {
		g.nextLarge(node, r)
		return
	}
	e := event{level: "Metadata", stage: "ResponseComplete", received: g.now, code: 200, decision: "allow", apiVersion: "v1", auditID: g.auditID()}
	lat := time.Duration(1+g.rng.ExpFloat64()*4) * time.Millisecond
	kubelet := func() {
		n := g.nodeName(node)
		e.user, e.groups, e.sourceIP = "system:node:"+n, nodeGroups, g.nodeIP(node)
		e.userAgent = "kubelet/v1.37.2 (linux/amd64) kubernetes/5cb9a1e"
		e.extra = [][2]string{{"authentication.kubernetes.io/credential-id", "X509SHA256=4f3c" + strconv.Itoa(node)}}
	}
	switch {
	case r < 0.32: // node status heartbeat
		kubelet()
		n := g.nodeName(node)
		e.verb, e.resource, e.sub, e.name = "patch", "nodes", "status", n
		e.uri = "/api/v1/nodes/" + n + "/status?timeout=10s"
	case r < 0.52: // lease renew
		kubelet()
		n := g.nodeName(node)
		e.verb, e.resource, e.ns, e.name, e.group = "update", "leases", "kube-node-lease", n, "coordination.k8s.io"
		e.uri = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + n + "?timeout=10s"
		e.authzReason = ""
	case r < 0.60: // configmap polled by every node
		kubelet()
		ns := namespaces[g.rng.IntN(len(namespaces))]
		name := "kube-proxy"
		if g.rng.IntN(4) == 0 {
			name = "app-config-" + strconv.Itoa(g.rng.IntN(50))
		}
		e.verb, e.resource, e.ns, e.name = "get", "configmaps", ns, name
		e.uri = "/api/v1/namespaces/" + ns + "/configmaps/" + name
		if g.rng.IntN(200) == 0 {
			e.code, e.reason, e.message = 404, "NotFound", "configmaps \""+name+"\" not found"
		}
	case r < 0.66: // secrets read by kubelets
		kubelet()
		ns := namespaces[g.rng.IntN(len(namespaces))]
		name := "app-token-" + strconv.Itoa(g.rng.IntN(30))
		e.verb, e.resource, e.ns, e.name = "get", "secrets", ns, name
		e.uri = "/api/v1/namespaces/" + ns + "/secrets/" + name
	case r < 0.70: // watches from kubelets and controllers: ResponseStarted now, complete later
		kubelet()
		res := []string{"pods", "services", "nodes", "configmaps"}[g.rng.IntN(4)]
		e.verb, e.resource = "watch", res
		e.uri = "/api/v1/" + res + "?allowWatchBookmarks=true&resourceVersion=" + strconv.Itoa(1000+g.rng.IntN(1e6)) + "&timeout=7m31s&timeoutSeconds=451&watch=true"
		e.stage, e.stageT = "ResponseStarted", g.now.Add(lat)
		g.emit(e)
		end := g.now.Add(time.Duration(300+g.rng.IntN(200)) * time.Second)
		g.open = append(g.open, openWatch{ev: e, end: end})
		return
	case r < 0.82: // controllers
		c := controllers[g.rng.IntN(len(controllers))]
		ns := namespaces[g.rng.IntN(len(namespaces))]
		e.user = "system:serviceaccount:kube-system:" + c.sa
		e.groups = saGroups("kube-system")
		e.sourceIP = "10.0.0.10"
		e.userAgent = "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/5cb9a1e/system:serviceaccount:kube-system:" + c.sa
		e.verb, e.resource, e.group, e.ns = c.verb, c.resource, c.group, ns
		if c.group != "" {
			e.apiVersion = "v1"
		}
		name := c.resource[:len(c.resource)-1] + "-" + strconv.Itoa(g.rng.IntN(400))
		if c.resource == "namespaces" || c.resource == "nodes" {
			e.ns, name = "", ns
		}
		e.name = name
		e.uri = resourcePath(c.group, ns, c.resource, name, "")
		e.authzReason = `RBAC: allowed by ClusterRoleBinding "system:controller:` + c.sa + `" of ClusterRole "system:controller:` + c.sa + `" to ServiceAccount "` + c.sa + `/kube-system"`
		switch {
		case c.verb == "update" && g.rng.IntN(25) == 0:
			e.code, e.reason, e.message = 409, "Conflict", "Operation cannot be fulfilled on "+c.resource+" \""+name+"\": the object has been modified; please apply your changes to the latest version and try again"
		case c.sa == "generic-garbage-collector" && g.rng.IntN(3) == 0:
			e.code, e.reason = 422, "Invalid"
			e.message = "Pod \"" + name + "\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
			e.mutatedBy = true
		}
	case r < 0.86: // scheduler binds pods
		ns := namespaces[g.rng.IntN(len(namespaces))]
		name := "web-" + strconv.Itoa(g.rng.IntN(10000))
		e.user, e.groups, e.sourceIP = "system:kube-scheduler", []string{"system:authenticated"}, "10.0.0.10"
		e.userAgent = "kube-scheduler/v1.37.2 (linux/amd64) kubernetes/5cb9a1e/scheduler"
		e.verb, e.resource, e.sub, e.ns, e.name, e.code = "create", "pods", "binding", ns, name, 201
		e.uri = "/api/v1/namespaces/" + ns + "/pods/" + name + "/binding"
		e.authzReason = `RBAC: allowed by ClusterRoleBinding "system:kube-scheduler" of ClusterRole "system:kube-scheduler" to User "system:kube-scheduler"`
	case r < 0.90: // cluster-wide lists
		c := controllers[g.rng.IntN(len(controllers))]
		e.user, e.groups, e.sourceIP = "system:serviceaccount:kube-system:"+c.sa, saGroups("kube-system"), "10.0.0.10"
		e.userAgent = "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/5cb9a1e/shared-informers"
		e.verb, e.resource, e.group = "list", c.resource, c.group
		e.uri = resourcePath(c.group, "", c.resource, "", "") + "?limit=500&resourceVersion=0"
		lat = time.Duration(20+g.rng.ExpFloat64()*200) * time.Millisecond
	case r < 0.95: // humans and CI
		h := humans[g.rng.IntN(len(humans))]
		ns := namespaces[g.rng.IntN(len(namespaces))]
		e.user, e.groups, e.sourceIP = h, []string{"developers", "system:authenticated"}, "192.168.10."+strconv.Itoa(1+g.rng.IntN(20))
		e.userAgent = "kubectl/v1.37.2 (linux/amd64) kubernetes/5cb9a1e"
		verbs := []string{"get", "list", "create", "patch", "delete"}
		e.verb = verbs[g.rng.IntN(len(verbs))]
		e.resource, e.group, e.ns = "deployments", "apps", ns
		name := "app-" + strconv.Itoa(g.rng.IntN(40))
		if e.verb != "list" && e.verb != "create" {
			e.name = name
		}
		e.uri = resourcePath("apps", ns, "deployments", e.name, "")
		e.authzReason = `RBAC: allowed by RoleBinding "developers/` + ns + `" of ClusterRole "edit" to Group "developers"`
		if e.verb == "create" {
			e.code = 201
		}
		if g.rng.IntN(20) == 0 {
			e.code, e.reason, e.message, e.decision, e.authzReason = 403, "Forbidden",
				"deployments.apps is forbidden: User \""+h+"\" cannot "+e.verb+" resource \"deployments\" in API group \"apps\" in the namespace \""+ns+"\"", "forbid", ""
		}
	case r < 0.98: // pod writes at RequestResponse level
		ns := namespaces[g.rng.IntN(len(namespaces))]
		name := "web-" + strconv.Itoa(g.rng.IntN(10000))
		e.user, e.groups, e.sourceIP = "system:serviceaccount:kube-system:replicaset-controller", saGroups("kube-system"), "10.0.0.10"
		e.userAgent = "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/5cb9a1e/system:serviceaccount:kube-system:replicaset-controller"
		e.level, e.verb, e.resource, e.ns, e.code = "RequestResponse", "create", "pods", ns, 201
		e.uri = "/api/v1/namespaces/" + ns + "/pods"
		e.requestObject = podJSON(ns, name, "")
		e.responseObject = podJSON(ns, name, "a3c0b1d2-0000-4000-8000-"+fmt.Sprintf("%012d", g.rng.IntN(1e9)))
		e.authzReason = `RBAC: allowed by ClusterRoleBinding "system:controller:replicaset-controller" of ClusterRole "system:controller:replicaset-controller" to ServiceAccount "replicaset-controller/kube-system"`
		lat = time.Duration(5+g.rng.ExpFloat64()*20) * time.Millisecond
	case r < 0.99: // expired certificates: 401 with no user
		e.sourceIP = "10.1.9." + strconv.Itoa(1+g.rng.IntN(4))
		e.userAgent = "kubelet/v1.37.2 (linux/amd64) kubernetes/5cb9a1e"
		e.verb, e.resource, e.name = "get", "nodes", "ip-10-1-9-"+strconv.Itoa(1+g.rng.IntN(4))
		e.uri = "/api/v1/nodes/" + e.name + "?resourceVersion=0&timeout=10s"
		e.code, e.reason, e.message, e.decision = 401, "", "Authentication failed, attempted: x509", ""
		e.user, e.groups = "", nil
	default: // RBAC denials
		e.user, e.groups, e.sourceIP = "system:serviceaccount:ingress:traefik", saGroups("ingress"), "10.2.3.4"
		e.userAgent = "traefik/v3.2.0 (linux/amd64) kubernetes/ingress"
		e.verb, e.resource = "list", "secrets"
		e.uri = "/api/v1/secrets?limit=500&resourceVersion=0"
		e.code, e.reason, e.decision = 403, "Forbidden", "forbid"
		e.message = `secrets is forbidden: User "system:serviceaccount:ingress:traefik" cannot list resource "secrets" in API group "" at the cluster scope`
	}
	if g.rng.IntN(500) == 0 {
		lat += time.Duration(500+g.rng.IntN(2000)) * time.Millisecond
		e.latencyAnnotations = true
	}
	e.stageT = g.now.Add(lat)
	g.emit(e)
}

func resourcePath(group, ns, resource, name, sub string) string {
	p := "/api/v1"
	if group != "" {
		p = "/apis/" + group + "/v1"
	}
	if ns != "" {
		p += "/namespaces/" + ns
	}
	p += "/" + resource
	if name != "" {
		p += "/" + name
	}
	if sub != "" {
		p += "/" + sub
	}
	return p
}

func podJSON(ns, name, uid string) string {
	meta := `{"name":"` + name + `","namespace":"` + ns + `","labels":{"app":"web","pod-template-hash":"7d4b9c8f6"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d4b9c8f6","uid":"0c9a7e55-2a7c-4a44-8f0e-3d1f6c1d2b11","controller":true,"blockOwnerDeletion":true}]`
	if uid != "" {
		meta += `,"uid":"` + uid + `","resourceVersion":"123456","creationTimestamp":"2026-11-24T00:00:00Z"`
	}
	meta += `}`
	return `{"kind":"Pod","apiVersion":"v1","metadata":` + meta + `,"spec":{"containers":[{"name":"web","image":"registry.example.com/web:1.4.2","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"memory":"256Mi"}},"env":[{"name":"MODE","value":"production"},{"name":"LOG_LEVEL","value":"info"}],"volumeMounts":[{"name":"kube-api-access-x7k2p","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","securityContext":{"runAsNonRoot":true,"allowPrivilegeEscalation":false}}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","securityContext":{},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"volumes":[{"name":"kube-api-access-x7k2p","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}}],"defaultMode":420}}]},"status":{"phase":"Pending","qosClass":"Burstable"}}`
}

const timeLayout = "2006-01-02T15:04:05.000000Z"

func (g *gen) emit(e event) {
	if g.err != nil {
		return
	}
	b := g.buf[:0]
	b = append(b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"`...)
	b = append(b, e.level...)
	b = append(b, `","auditID":"`...)
	b = append(b, e.auditID...)
	b = append(b, `","stage":"`...)
	b = append(b, e.stage...)
	b = append(b, `","requestURI":`...)
	b = strconv.AppendQuote(b, e.uri)
	b = append(b, `,"verb":"`...)
	b = append(b, e.verb...)
	b = append(b, `","user":{`...)
	if e.user != "" {
		b = append(b, `"username":`...)
		b = strconv.AppendQuote(b, e.user)
		b = append(b, `,"groups":[`...)
		for i, gr := range e.groups {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, gr)
		}
		b = append(b, ']')
		if len(e.extra) > 0 {
			b = append(b, `,"extra":{`...)
			for i, kv := range e.extra {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendQuote(b, kv[0])
				b = append(b, `:[`...)
				b = strconv.AppendQuote(b, kv[1])
				b = append(b, ']')
			}
			b = append(b, '}')
		}
	}
	b = append(b, `},"sourceIPs":[`...)
	b = strconv.AppendQuote(b, e.sourceIP)
	b = append(b, `],"userAgent":`...)
	b = strconv.AppendQuote(b, e.userAgent)
	if e.resource != "" {
		b = append(b, `,"objectRef":{"resource":"`...)
		b = append(b, e.resource...)
		b = append(b, '"')
		if e.ns != "" {
			b = append(b, `,"namespace":"`...)
			b = append(b, e.ns...)
			b = append(b, '"')
		}
		if e.name != "" {
			b = append(b, `,"name":"`...)
			b = append(b, e.name...)
			b = append(b, '"')
		}
		if e.group != "" {
			b = append(b, `,"apiGroup":"`...)
			b = append(b, e.group...)
			b = append(b, '"')
		}
		b = append(b, `,"apiVersion":"v1"`...)
		if e.sub != "" {
			b = append(b, `,"subresource":"`...)
			b = append(b, e.sub...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	if e.stage != "RequestReceived" {
		b = append(b, `,"responseStatus":{"metadata":{}`...)
		if e.code >= 300 {
			b = append(b, `,"status":"Failure"`...)
			if e.message != "" {
				b = append(b, `,"message":`...)
				b = strconv.AppendQuote(b, e.message)
			}
			if e.reason != "" {
				b = append(b, `,"reason":"`...)
				b = append(b, e.reason...)
				b = append(b, '"')
			}
		}
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(e.code), 10)
		b = append(b, '}')
	}
	if e.requestObject != "" {
		b = append(b, `,"requestObject":`...)
		b = append(b, e.requestObject...)
	}
	if e.responseObject != "" {
		b = append(b, `,"responseObject":`...)
		b = append(b, e.responseObject...)
	}
	b = append(b, `,"requestReceivedTimestamp":"`...)
	b = e.received.AppendFormat(b, timeLayout)
	b = append(b, `","stageTimestamp":"`...)
	b = e.stageT.AppendFormat(b, timeLayout)
	b = append(b, '"')
	if e.decision != "" || e.latencyAnnotations || e.mutatedBy {
		b = append(b, `,"annotations":{`...)
		first := true
		kv := func(k, v string) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = strconv.AppendQuote(b, k)
			b = append(b, ':')
			b = strconv.AppendQuote(b, v)
		}
		if e.decision != "" {
			kv("authorization.k8s.io/decision", e.decision)
			kv("authorization.k8s.io/reason", e.authzReason)
		}
		if e.mutatedBy {
			kv("mutation.webhook.admission.k8s.io/round_0_index_0", `{"configuration":"pod-defaults","webhook":"defaults.example.com","mutated":true}`)
		}
		if e.latencyAnnotations && g.o.Shape == ShapeLarge {
			total := e.stageT.Sub(e.received)
			kv("apiserver.latency.k8s.io/apf-queue-wait", (total / 50).String())
			kv("apiserver.latency.k8s.io/authentication", (total / 40).String())
			kv("apiserver.latency.k8s.io/authorization", (total / 30).String())
			kv("apiserver.latency.k8s.io/etcd", (total / 3).String())
			kv("apiserver.latency.k8s.io/response-write", (total / 25).String())
			kv("apiserver.latency.k8s.io/serialize-response-object", (total / 20).String())
			kv("apiserver.latency.k8s.io/total", total.String())
		} else if e.latencyAnnotations {
			total := e.stageT.Sub(e.received)
			kv("apiserver.latency.k8s.io/etcd", (total / 3).String())
			kv("apiserver.latency.k8s.io/mutating-webhook", (total / 2).String())
			kv("apiserver.latency.k8s.io/serialize-response-object", (total / 20).String())
			kv("apiserver.latency.k8s.io/total", total.String())
		}
		b = append(b, '}')
	}
	b = append(b, "}\n"...)
	g.buf = b
	n, err := g.bw.Write(b)
	g.written += int64(n)
	g.events++
	g.err = err
}

// nextLarge writes one request of the large-cluster shape.
func (g *gen) nextLarge(node int, r float64) {
	e := event{level: "Metadata", stage: "ResponseComplete", received: g.now, code: 200, decision: "allow", apiVersion: "v1", auditID: g.auditID()}
	lat := time.Duration(200+g.rng.ExpFloat64()*3000) * time.Microsecond
	n := g.nodeName(node)
	kubelet := func() {
		e.user, e.groups, e.sourceIP = "system:node:"+n, nodeGroups, g.nodeIP(node)
		e.userAgent = "kubelet/v1.37.2 (linux/amd64) kubernetes/5cb9a1e"
		e.extra = [][2]string{{"authentication.kubernetes.io/credential-id", "X509SHA256=4f3c9b1e" + strconv.Itoa(node*7919)}}
	}
	// A workload's service account with a bound token: one of 2,400.
	workload := func() {
		w := g.rng.IntN(2400)
		ns := "team-" + strconv.Itoa(w%300)
		sa := "app-" + strconv.Itoa(w/300)
		pod := sa + "-7d4b9c8f6-" + strconv.Itoa(g.rng.IntN(1000))
		e.user, e.groups = "system:serviceaccount:"+ns+":"+sa, saGroups(ns)
		e.sourceIP = "10.64." + strconv.Itoa(node%250) + "." + strconv.Itoa(1+w%250)
		e.userAgent = sa + "/v2.3.1 (linux/amd64) kubernetes/client-go"
		e.extra = [][2]string{
			{"authentication.kubernetes.io/credential-id", "JTI=" + g.auditID()},
			{"authentication.kubernetes.io/node-name", n},
			{"authentication.kubernetes.io/node-uid", "5e0c" + strconv.Itoa(node*104729) + "-1d2c-4b6a-9f0e-3c2a1b0d9e8f"},
			{"authentication.kubernetes.io/pod-name", pod},
			{"authentication.kubernetes.io/pod-uid", "7a1b" + strconv.Itoa(g.rng.IntN(1e9)) + "-2c3d-4e5f-8a9b-0c1d2e3f4a5b"},
		}
		e.ns = ns
	}
	switch {
	case r < 0.22: // node status
		kubelet()
		e.verb, e.resource, e.sub, e.name = "patch", "nodes", "status", n
		e.uri = "/api/v1/nodes/" + n + "/status?timeout=10s"
	case r < 0.38: // lease renew
		kubelet()
		e.verb, e.resource, e.ns, e.name, e.group = "update", "leases", "kube-node-lease", n, "coordination.k8s.io"
		e.uri = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + n + "?timeout=10s"
	case r < 0.45: // kubelet reads of configmaps and secrets
		kubelet()
		ns := "team-" + strconv.Itoa(g.rng.IntN(300))
		res := []string{"configmaps", "secrets"}[g.rng.IntN(2)]
		name := "cfg-" + strconv.Itoa(g.rng.IntN(20))
		e.verb, e.resource, e.ns, e.name = "get", res, ns, name
		e.uri = "/api/v1/namespaces/" + ns + "/" + res + "/" + name
	case r < 0.52: // watches, 30-60 minutes long
		if g.rng.IntN(2) == 0 {
			kubelet()
		} else {
			workload()
		}
		res := []string{"pods", "services", "endpointslices", "configmaps", "secrets", "nodes"}[g.rng.IntN(6)]
		e.verb, e.resource = "watch", res
		if res == "endpointslices" {
			e.group = "discovery.k8s.io"
		}
		e.uri = resourcePath(e.group, e.ns, res, "", "") + "?allowWatchBookmarks=true&resourceVersion=" + strconv.Itoa(1000+g.rng.IntN(1e7)) + "&timeout=37m11s&timeoutSeconds=2231&watch=true"
		e.stage, e.stageT = "ResponseStarted", g.now.Add(lat)
		g.emit(e)
		end := g.now.Add(time.Duration(1800+g.rng.IntN(1800)) * time.Second)
		g.open = append(g.open, openWatch{ev: e, end: end})
		return
	case r < 0.78: // workloads reading and writing their own objects
		workload()
		res := []string{"configmaps", "pods", "services", "events", "leases"}[g.rng.IntN(5)]
		verbs := []string{"get", "get", "list", "update", "patch", "create"}
		e.verb, e.resource = verbs[g.rng.IntN(len(verbs))], res
		if res == "leases" {
			e.group = "coordination.k8s.io"
		}
		if e.verb != "list" && e.verb != "create" {
			e.name = res[:len(res)-1] + "-" + strconv.Itoa(g.rng.IntN(50))
		}
		e.uri = resourcePath(e.group, e.ns, res, e.name, "")
		e.authzReason = `RBAC: allowed by RoleBinding "` + e.user[len("system:serviceaccount:"):] + `" of Role "app" to ServiceAccount`
		switch k := g.rng.IntN(100); {
		case k < 2:
			e.code, e.reason, e.message = 404, "NotFound", res+" \""+e.name+"\" not found"
		case k < 3:
			e.code, e.reason, e.message = 409, "Conflict", "Operation cannot be fulfilled on "+res+" \""+e.name+"\": the object has been modified; please apply your changes to the latest version and try again"
		case k < 4:
			e.code, e.reason, e.decision, e.authzReason = 403, "Forbidden", "forbid", ""
			e.message = res + " is forbidden: User \"" + e.user + "\" cannot " + e.verb + " resource \"" + res + "\" in API group \"\" in the namespace \"" + e.ns + "\""
		}
		if e.verb == "create" && e.code == 200 {
			e.code = 201
		}
	case r < 0.88: // controllers
		c := controllers[g.rng.IntN(len(controllers))]
		ns := "team-" + strconv.Itoa(g.rng.IntN(300))
		e.user, e.groups, e.sourceIP = "system:serviceaccount:kube-system:"+c.sa, saGroups("kube-system"), "10.0.0.10"
		e.userAgent = "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/5cb9a1e/system:serviceaccount:kube-system:" + c.sa
		e.extra = [][2]string{{"authentication.kubernetes.io/credential-id", "JTI=" + g.auditID()}}
		e.verb, e.resource, e.group, e.ns = c.verb, c.resource, c.group, ns
		e.name = c.resource[:len(c.resource)-1] + "-" + strconv.Itoa(g.rng.IntN(400))
		if c.resource == "namespaces" || c.resource == "nodes" {
			e.ns, e.name = "", ns
		}
		e.uri = resourcePath(c.group, e.ns, c.resource, e.name, "")
		e.authzReason = `RBAC: allowed by ClusterRoleBinding "system:controller:` + c.sa + `" of ClusterRole "system:controller:` + c.sa + `" to ServiceAccount "` + c.sa + `/kube-system"`
		if c.verb == "update" && g.rng.IntN(25) == 0 {
			e.code, e.reason, e.message = 409, "Conflict", "Operation cannot be fulfilled on "+c.resource+" \""+e.name+"\": the object has been modified; please apply your changes to the latest version and try again"
		}
	case r < 0.93: // pod and deployment writes at RequestResponse level
		ns := "team-" + strconv.Itoa(g.rng.IntN(300))
		name := "web-" + strconv.Itoa(g.rng.IntN(10000))
		e.user, e.groups, e.sourceIP = "system:serviceaccount:kube-system:replicaset-controller", saGroups("kube-system"), "10.0.0.10"
		e.userAgent = "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/5cb9a1e/system:serviceaccount:kube-system:replicaset-controller"
		e.level, e.verb, e.resource, e.ns, e.code = "RequestResponse", "create", "pods", ns, 201
		e.uri = "/api/v1/namespaces/" + ns + "/pods"
		e.requestObject = podJSON(ns, name, "")
		e.responseObject = podJSON(ns, name, "a3c0b1d2-0000-4000-8000-"+fmt.Sprintf("%012d", g.rng.IntN(1e9)))
		lat = time.Duration(5+g.rng.ExpFloat64()*20) * time.Millisecond
	case r < 0.97: // humans
		h := humans[g.rng.IntN(len(humans))]
		ns := "team-" + strconv.Itoa(g.rng.IntN(300))
		e.user, e.groups, e.sourceIP = h, []string{"developers", "system:authenticated"}, "192.168.10."+strconv.Itoa(1+g.rng.IntN(20))
		e.userAgent = "kubectl/v1.37.2 (linux/amd64) kubernetes/5cb9a1e"
		e.extra = [][2]string{{"authentication.kubernetes.io/credential-id", "X509SHA256=9a8b7c" + strconv.Itoa(len(h))}}
		e.verb, e.resource, e.group, e.ns = []string{"get", "list", "patch"}[g.rng.IntN(3)], "deployments", "apps", ns
		if e.verb != "list" {
			e.name = "app-" + strconv.Itoa(g.rng.IntN(40))
		}
		e.uri = resourcePath("apps", ns, "deployments", e.name, "")
		if g.rng.IntN(10) == 0 {
			e.code, e.reason, e.decision = 403, "Forbidden", "forbid"
			e.message = "deployments.apps is forbidden: User \"" + h + "\" cannot " + e.verb + " resource \"deployments\" in API group \"apps\" in the namespace \"" + ns + "\""
		}
	case r < 0.985: // expired certificates
		e.sourceIP = "10.1.9." + strconv.Itoa(1+g.rng.IntN(4))
		e.userAgent = "kubelet/v1.37.2 (linux/amd64) kubernetes/5cb9a1e"
		e.verb, e.resource, e.name = "get", "nodes", "ip-10-1-9-"+strconv.Itoa(1+g.rng.IntN(4))
		e.uri = "/api/v1/nodes/" + e.name + "?resourceVersion=0&timeout=10s"
		e.stage, e.code, e.message, e.decision = "ResponseStarted", 401, "Unauthorized", ""
	default: // cluster-wide lists
		c := controllers[g.rng.IntN(len(controllers))]
		e.user, e.groups, e.sourceIP = "system:serviceaccount:kube-system:"+c.sa, saGroups("kube-system"), "10.0.0.10"
		e.userAgent = "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/5cb9a1e/shared-informers"
		e.verb, e.resource, e.group = "list", c.resource, c.group
		e.uri = resourcePath(c.group, "", c.resource, "", "") + "?limit=500&resourceVersion=0"
		lat = time.Duration(20+g.rng.ExpFloat64()*200) * time.Millisecond
	}
	if g.rng.IntN(3) == 0 {
		e.latencyAnnotations = true
	}
	e.stageT = g.now.Add(lat)
	g.emit(e)
}
