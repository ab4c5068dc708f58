package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-audit/kubectl-audit/e2e/binaries"
)

// HAOptions configure NewHA.
type HAOptions struct {
	// Dir holds everything; it must exist. Empty means a new temporary
	// directory.
	Dir string
	// APIServers is the number of kube-apiservers, each with its own
	// control-plane Node and log server (default 3).
	APIServers int
	// AuditMaxSizeMB is --audit-log-maxsize (default 1) and
	// AuditMaxBackups --audit-log-maxbackup (default 50); backups are
	// gzip'd (--audit-log-compress).
	AuditMaxSizeMB, AuditMaxBackups int
	// Verbosity is the apiservers' -v (default 2).
	Verbosity int
	// Log receives progress messages. Nil discards them.
	Log io.Writer
}

// HA is an HA control plane: one etcd, several kube-apiservers, each
// writing its own rotated audit log into the /var/log/ of a control-plane
// Node, and per Node a "kubelet log server" serving that /var/log/ as the
// kubelet does, reachable through the API servers' node proxy.
type HA struct {
	Dir      string
	PKI      *PKI
	Binaries binaries.Set
	EtcdURL  string

	APIServers []*HAAPIServer

	// KubeconfigPath is an admin kubeconfig for APIServers[0].
	KubeconfigPath string
	// ReaderKubeconfigPath is an admin kubeconfig for APIServers[0] whose
	// user (ReaderUser) the audit policy leaves out: reading the logs
	// with it does not change them.
	ReaderKubeconfigPath string
	// Config and Client are the admin's, for APIServers[0].
	Config *rest.Config
	Client kubernetes.Interface

	// KubeletClient is the API servers' kubelet client certificate
	// (CN=kube-apiserver-kubelet-client, O=system:masters, as kubeadm
	// issues it); the log servers accept only it.
	KubeletClient KeyPair

	etcd      *ControlPlane // its etcd process and helpers
	logServer string        // the log server binary
	netnses   []*netns
	stopOnce  sync.Once
	stopErr   error
}

// HAAPIServer is one kube-apiserver and its Node.
type HAAPIServer struct {
	// URL is https://127.0.0.1:<port>.
	URL string
	// Node is the control-plane Node whose /var/log/ holds this apiserver's
	// audit log: cp-1, cp-2, ...
	Node string
	// LogRoot is the Node's /var/log/ on the test machine.
	LogRoot string
	// AuditDir is LogRoot/kubernetes/audit (kubeadm's place), holding
	// audit.log and its rotated, gzip'd backups.
	AuditDir, AuditLogPath string
	// LogPath is the apiserver's own stderr.
	LogPath string
	// NodeIP is the Node's InternalIP: the log server's address inside its
	// network namespace. LogServerPort is its daemonEndpoints port.
	NodeIP        net.IP
	LogServerPort int
	// LogServerLogPath is the log server's output: a line per request.
	LogServerLogPath string
	// LogServerArgs are more flags for the log server (cmd/logserver),
	// used when it is (re)started: -cut-once N.
	LogServerArgs []string

	ns        *netns
	apiserver *process
	mu        sync.Mutex
	logServer *process
}

// ReaderUser is the admin user of ReaderKubeconfigPath, not audited.
const ReaderUser = "audit-reader"

// HAAuditPolicy is AuditPolicy without watches and without ReaderUser, so
// that two reads of the logs, bounded by --until T, agree:
//   - a watch's events are written when it ends, minutes after it was
//     received, so a log read twice would differ in what it holds of the
//     past; without them every event received before T is on disk shortly
//     after T (blocking mode);
//   - the reads' own requests would grow the live files, and rotate them
//     while they are listed and read.
var HAAuditPolicy = strings.Replace(AuditPolicy, "rules:\n",
	"rules:\n  - level: None\n    verbs: [\"watch\"]\n  - level: None\n    users: [\""+ReaderUser+"\"]\n", 1)

// kubeletPort is the log servers' port, the kubelet's: each listens in its
// own namespace.
const kubeletPort = 10250

// StartHA starts an HA control plane for a test and stops it (and removes
// its network namespaces) when the test ends. It needs root.
func StartHA(t testing.TB, o HAOptions) *HA {
	t.Helper()
	if v := os.Getenv(SkipEnv); v != "" && v != "0" {
		t.Skipf("%s=%s: skipping the end-to-end test that needs a real control plane", SkipEnv, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Log == nil {
		o.Log = testWriter{t}
	}
	h, err := NewHA(ctx, o)
	if err != nil {
		t.Fatalf("start HA control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Errorf("stop HA control plane: %v", err)
		}
	})
	return h
}

// NewHA starts an HA control plane. The caller must call Stop, which also
// removes the network namespaces; NewHA removes them itself when it fails.
func NewHA(ctx context.Context, o HAOptions) (h *HA, err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.APIServers == 0 {
		o.APIServers = 3
	}
	if o.AuditMaxSizeMB == 0 {
		o.AuditMaxSizeMB = 1
	}
	if o.AuditMaxBackups == 0 {
		o.AuditMaxBackups = 50
	}
	if o.Verbosity == 0 {
		o.Verbosity = 2
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "kubectl-audit-e2e-ha-"); err != nil {
			return nil, err
		}
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the HA control plane makes network namespaces: run as root")
	}
	start := time.Now()
	bins, err := binaries.Ensure(ctx, o.Log)
	if err != nil {
		return nil, err
	}
	h = &HA{Dir: o.Dir, Binaries: bins, KubeconfigPath: filepath.Join(o.Dir, "admin.kubeconfig"), ReaderKubeconfigPath: filepath.Join(o.Dir, "reader.kubeconfig")}
	defer func() {
		if err != nil {
			err = errors.Join(err, h.Stop())
		}
	}()
	pkiDir := filepath.Join(o.Dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return nil, err
	}
	if h.PKI, err = newPKI(pkiDir); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if h.KubeletClient, err = h.PKI.CA.issue(pkiDir, certSpec{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}}); err != nil {
		return nil, err
	}
	if h.logServer, err = buildLogServer(ctx, o.Dir); err != nil {
		return nil, err
	}
	if h.netnses, err = newNetnses(o.APIServers); err != nil {
		return nil, err
	}
	ports, err := freePorts(2 + o.APIServers)
	if err != nil {
		return nil, err
	}
	for i := range o.APIServers {
		node := fmt.Sprintf("cp-%d", i+1)
		root := filepath.Join(o.Dir, "nodes", node, "var-log")
		a := &HAAPIServer{
			URL:              "https://" + hostPort(ports[2+i]),
			Node:             node,
			LogRoot:          root,
			AuditDir:         filepath.Join(root, "kubernetes", "audit"),
			LogPath:          filepath.Join(o.Dir, "kube-apiserver-"+node+".log"),
			NodeIP:           h.netnses[i].NSIP,
			LogServerPort:    kubeletPort,
			LogServerLogPath: filepath.Join(o.Dir, "logserver-"+node+".log"),
			ns:               h.netnses[i],
		}
		a.AuditLogPath = filepath.Join(a.AuditDir, "audit.log")
		// What else a control-plane node's /var/log/ holds.
		for _, d := range []string{a.AuditDir, filepath.Join(root, "pods"), filepath.Join(root, "containers"), filepath.Join(root, "journal")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
		}
		h.APIServers = append(h.APIServers, a)
	}

	h.etcd = &ControlPlane{Dir: o.Dir, Binaries: bins, EtcdURL: "http://" + hostPort(ports[0]), EtcdLogPath: filepath.Join(o.Dir, "etcd.log")}
	fmt.Fprintf(o.Log, "starting etcd on %s\n", h.etcd.EtcdURL)
	if err := h.etcd.startEtcd(ctx, ports[1]); err != nil {
		return nil, err
	}
	h.EtcdURL = h.etcd.EtcdURL
	if err := h.startAPIServers(ctx, o); err != nil {
		return nil, err
	}
	for _, a := range h.APIServers {
		if err := h.StartLogServer(ctx, a); err != nil {
			return nil, err
		}
	}
	if err := h.registerNodes(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "HA control plane ready in %s: %d apiservers, nodes %s\n", time.Since(start).Round(10*time.Millisecond), len(h.APIServers), h.nodeList())
	return h, nil
}

func (h *HA) nodeList() string {
	var s []string
	for _, a := range h.APIServers {
		s = append(s, fmt.Sprintf("%s (%s:%d)", a.Node, a.NodeIP, a.LogServerPort))
	}
	return strings.Join(s, ", ")
}

// buildLogServer builds ./cmd/logserver of this module into dir.
func buildLogServer(ctx context.Context, dir string) (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the e2e module's source")
	}
	bin := filepath.Join(dir, "logserver")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/logserver")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the log server: %v\n%s", err, out)
	}
	return bin, nil
}

func (h *HA) startAPIServers(ctx context.Context, o HAOptions) error {
	policy := filepath.Join(h.Dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(HAAuditPolicy), 0o600); err != nil {
		return err
	}
	tokenFile := filepath.Join(h.Dir, "tokens.csv")
	var tokens strings.Builder
	for _, u := range StaticUsers {
		fmt.Fprintf(&tokens, "%s,%s,%s,\"%s\"\n", u.Token, u.Name, u.UID, strings.Join(u.Groups, ","))
	}
	if err := os.WriteFile(tokenFile, []byte(tokens.String()), 0o600); err != nil {
		return err
	}
	p := h.PKI
	for _, a := range h.APIServers {
		port := strings.TrimPrefix(a.URL, "https://127.0.0.1:")
		fmt.Fprintf(o.Log, "starting kube-apiserver for %s on %s (audit log %s)\n", a.Node, a.URL, a.AuditLogPath)
		var err error
		a.apiserver, err = startProcess("kube-apiserver-"+a.Node, a.LogPath, h.Binaries.KubeAPIServer,
			"--etcd-servers="+h.etcd.EtcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port="+port,
			"--endpoint-reconciler-type=none",
			"--service-cluster-ip-range=10.0.0.0/24",
			"--cert-dir="+filepath.Join(h.Dir, "apiserver-certs-"+a.Node),
			"--tls-cert-file="+p.APIServer.CertFile,
			"--tls-private-key-file="+p.APIServer.KeyFile,
			"--client-ca-file="+p.CA.CertFile,
			"--token-auth-file="+tokenFile,
			"--service-account-issuer="+ServiceAccountIssuer,
			"--service-account-key-file="+p.ServiceAccountPubFile,
			"--service-account-signing-key-file="+p.ServiceAccountKeyFile,
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NodeRestriction",
			"--profiling=false",
			// The node proxy: to the InternalIP and daemonEndpoints port,
			// with kubeadm's kubelet client certificate, verifying the
			// "kubelet" against the cluster CA.
			"--kubelet-preferred-address-types=InternalIP",
			"--kubelet-client-certificate="+h.KubeletClient.CertFile,
			"--kubelet-client-key="+h.KubeletClient.KeyFile,
			"--kubelet-certificate-authority="+p.CA.CertFile,
			"--audit-policy-file="+policy,
			"--audit-log-path="+a.AuditLogPath,
			"--audit-log-format=json",
			"--audit-log-mode=blocking",
			fmt.Sprintf("--audit-log-maxsize=%d", o.AuditMaxSizeMB),
			fmt.Sprintf("--audit-log-maxbackup=%d", o.AuditMaxBackups),
			"--audit-log-compress",
			fmt.Sprintf("-v=%d", o.Verbosity),
		)
		if err != nil {
			return err
		}
	}
	if err := h.writeKubeconfig(h.KubeconfigPath, 0, "admin", clientcmdapi.AuthInfo{ClientCertificateData: p.Admin.CertPEM, ClientKeyData: p.Admin.KeyPEM}); err != nil {
		return err
	}
	reader, err := p.ClientCert(ReaderUser, ReaderUser, "system:masters")
	if err != nil {
		return err
	}
	if err := h.writeKubeconfig(h.ReaderKubeconfigPath, 0, ReaderUser, clientcmdapi.AuthInfo{ClientCertificateData: reader.CertPEM, ClientKeyData: reader.KeyPEM}); err != nil {
		return err
	}
	if h.Config, err = clientcmd.BuildConfigFromFlags("", h.KubeconfigPath); err != nil {
		return err
	}
	h.Config.UserAgent = KubectlUserAgent
	h.Config.QPS, h.Config.Burst = 100, 200
	if h.Client, err = kubernetes.NewForConfig(h.Config); err != nil {
		return err
	}
	// They start together; wait for each.
	for _, a := range h.APIServers {
		hc, err := rest.HTTPClientFor(h.RESTConfig(a, ClientConfig{Cert: &p.Admin}))
		if err != nil {
			return err
		}
		if err := h.etcd.waitHTTP(ctx, a.apiserver, hc, a.URL+"/readyz", 120*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// writeKubeconfig writes a kubeconfig for APIServers[i] and user.
func (h *HA) writeKubeconfig(path string, i int, user string, auth clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["ha"] = &clientcmdapi.Cluster{Server: h.APIServers[i].URL, CertificateAuthorityData: h.PKI.CA.CertPEM}
	cfg.AuthInfos[user] = &auth
	cfg.Contexts["ha"] = &clientcmdapi.Context{Cluster: "ha", AuthInfo: user}
	cfg.CurrentContext = "ha"
	return clientcmd.WriteToFile(*cfg, path)
}

// TokenKubeconfig writes a kubeconfig for a static-token user (StaticUsers)
// of APIServers[i] and returns its path.
func (h *HA) TokenKubeconfig(i int, u StaticUser) (string, error) {
	path := filepath.Join(h.Dir, fmt.Sprintf("%s-%d.kubeconfig", u.Name, i))
	return path, h.writeKubeconfig(path, i, u.Name, clientcmdapi.AuthInfo{Token: u.Token})
}

// RESTConfig is a client configuration for apiserver a (see
// ControlPlane.RESTConfig).
func (h *HA) RESTConfig(a *HAAPIServer, c ClientConfig) *rest.Config {
	return (&ControlPlane{URL: a.URL, PKI: h.PKI}).RESTConfig(c)
}

// StartLogServer starts a's log server inside its network namespace and
// waits until it serves, checked with the API servers' kubelet client
// certificate from the host side of the namespace's veth.
func (h *HA) StartLogServer(ctx context.Context, a *HAAPIServer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.logServer != nil && a.logServer.exited() == nil {
		return nil
	}
	serving, err := h.PKI.CA.issue(h.PKI.Dir, certSpec{name: "logserver-" + a.Node, cn: a.Node, server: true, ips: []net.IP{a.NodeIP}})
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(a.NodeIP.String(), strconv.Itoa(a.LogServerPort))
	// ip netns exec execs the server in place: its pid, process group and
	// parent-death signal are the server's.
	args := append([]string{"netns", "exec", a.ns.Name, h.logServer,
		"-listen", addr, "-root", a.LogRoot,
		"-cert", serving.CertFile, "-key", serving.KeyFile,
		"-client-ca", h.PKI.CA.CertFile, "-client-cn", "kube-apiserver-kubelet-client"}, a.LogServerArgs...)
	p, err := startProcess("logserver-"+a.Node, a.LogServerLogPath, "ip", args...)
	if err != nil {
		return err
	}
	a.logServer = p
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := p.waitForLog(wctx, "listening on"); err != nil {
		return err
	}
	cert, err := h.KubeletClient.TLSCertificate()
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(h.PKI.CA.Cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()
	return h.etcd.waitHTTP(ctx, p, hc, "https://"+addr+"/logs/", 20*time.Second)
}

// StopLogServer stops a's log server: its kubelet stops answering.
func (h *HA) StopLogServer(a *HAAPIServer) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.logServer == nil {
		return nil
	}
	err := a.logServer.stop(10 * time.Second)
	a.logServer = nil
	return err
}

// registerNodes creates a control-plane Node per apiserver whose
// InternalIP and kubelet port are its log server's.
func (h *HA) registerNodes(ctx context.Context) error {
	for _, a := range h.APIServers {
		n, err := h.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:   a.Node,
			Labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": a.Node},
		}}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create node %s: %w", a.Node, err)
		}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.NodeIP.String()}, {Type: corev1.NodeHostName, Address: a.Node}}
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(a.LogServerPort)
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if _, err := h.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node %s status: %w", a.Node, err)
		}
	}
	return nil
}

// Stop stops the log servers, the apiservers (each flushes its audit log)
// and etcd, each by its process id, and removes the network namespaces.
// It is safe to call more than once.
func (h *HA) Stop() error {
	h.stopOnce.Do(func() {
		var errs []error
		for _, a := range h.APIServers {
			errs = append(errs, h.StopLogServer(a))
		}
		for _, a := range h.APIServers {
			if a.apiserver != nil {
				errs = append(errs, a.apiserver.stop(20*time.Second))
			}
		}
		if h.etcd != nil && h.etcd.etcd != nil {
			errs = append(errs, h.etcd.etcd.stop(20*time.Second))
		}
		for _, ns := range h.netnses {
			errs = append(errs, ns.remove())
		}
		h.stopErr = errors.Join(errs...)
	})
	return h.stopErr
}

// Healthy returns an error if an apiserver or etcd has exited.
func (h *HA) Healthy() error {
	var errs []error
	if h.etcd != nil && h.etcd.etcd != nil {
		errs = append(errs, h.etcd.etcd.exited())
	}
	for _, a := range h.APIServers {
		if a.apiserver != nil {
			errs = append(errs, a.apiserver.exited())
		}
	}
	return errors.Join(errs...)
}
