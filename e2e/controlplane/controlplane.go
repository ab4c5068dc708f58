// Package controlplane runs a real etcd, kube-apiserver and
// kube-controller-manager on 127.0.0.1 for end-to-end tests, configured so
// the apiserver writes a JSON audit log the way a production cluster would.
//
//	cp := controlplane.Start(t) // builds the binaries first if missing
//	cp.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
//	// the apiserver has written the request to cp.AuditLogPath
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-audit/kubectl-audit/e2e/binaries"
)

// SkipEnv, when set to a non-empty value other than "0", makes Start skip
// the calling test instead of building and starting a control plane.
const SkipEnv = "KUBECTL_AUDIT_E2E_SKIP"

// ServiceAccountIssuer is the issuer of service-account tokens.
const ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// StaticUser is a user authenticated by the apiserver's static token file.
type StaticUser struct {
	Name   string
	UID    string
	Groups []string
	Token  string
}

// StaticUsers are the users in the static token file. The scenarios grant
// them rights with RBAC as they need.
var StaticUsers = []StaticUser{
	{Name: "alice", UID: "1001", Groups: []string{"developers"}, Token: "alice-token-5f0c1e7d2b"},
	{Name: "bob", UID: "1002", Groups: []string{"developers"}, Token: "bob-token-9a4d6c3e81"},
}

// Options configure New.
type Options struct {
	// Dir holds certificates, configuration, logs and etcd's data. It must
	// exist. Empty means a new temporary directory.
	Dir string
	// Verbosity is the apiserver's -v (default 3). "Unable to authenticate
	// the request" (the reason for a 401) is an error, logged at any level;
	// 3 adds one "HTTP" line per request with its audit-ID, source address
	// and response code, which joins that reason to the 401's audit event.
	Verbosity int
	// Log receives progress messages (builds, starts). Nil discards them.
	Log io.Writer
	// AuditPolicy is the audit policy the apiserver runs with; empty means
	// AuditPolicy.
	AuditPolicy string
	// NoControllerManager starts etcd and the apiserver only, so that the
	// only clients are the test's own (and the apiserver's).
	NoControllerManager bool
}

// ControlPlane is a running etcd + kube-apiserver + kube-controller-manager.
type ControlPlane struct {
	Dir      string
	PKI      *PKI
	Binaries binaries.Set

	// URL is the apiserver's https://127.0.0.1:<port>.
	URL string
	// EtcdURL is etcd's client URL.
	EtcdURL string

	// KubeconfigPath is an admin kubeconfig (O=system:masters).
	KubeconfigPath string
	// AuditLogPath is the JSON audit log the apiserver writes.
	AuditLogPath string
	// AuditPolicyPath is the audit policy (Options.AuditPolicy) on disk.
	AuditPolicyPath string
	// APIServerLogPath, ControllerManagerLogPath and EtcdLogPath are the
	// processes' own stderr.
	APIServerLogPath, ControllerManagerLogPath, EtcdLogPath string

	// Config is the admin's client configuration; copy it before changing.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface

	etcd, apiserver, controllerManager *process
	started                            time.Time
}

// Start builds the binaries if they are missing, starts a control plane in
// a temporary directory and stops it when the test ends. It fails the test
// if anything goes wrong, and skips it only when KUBECTL_AUDIT_E2E_SKIP is
// set.
func Start(t testing.TB) *ControlPlane {
	t.Helper()
	if v := os.Getenv(SkipEnv); v != "" && v != "0" {
		t.Skipf("%s=%s: skipping the end-to-end test that needs a real control plane", SkipEnv, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	cp, err := New(ctx, Options{Dir: t.TempDir(), Log: testWriter{t}})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	return cp
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// New builds the binaries if they are missing and starts a control plane.
// The caller must call Stop.
func New(ctx context.Context, o Options) (cp *ControlPlane, err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Verbosity == 0 {
		o.Verbosity = 3
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "kubectl-audit-e2e-"); err != nil {
			return nil, err
		}
	}
	bins, err := binaries.Ensure(ctx, o.Log)
	if err != nil {
		return nil, err
	}
	cp = &ControlPlane{
		Dir:                      o.Dir,
		Binaries:                 bins,
		AuditLogPath:             filepath.Join(o.Dir, "audit.log"),
		AuditPolicyPath:          filepath.Join(o.Dir, "audit-policy.yaml"),
		APIServerLogPath:         filepath.Join(o.Dir, "kube-apiserver.log"),
		ControllerManagerLogPath: filepath.Join(o.Dir, "kube-controller-manager.log"),
		EtcdLogPath:              filepath.Join(o.Dir, "etcd.log"),
		KubeconfigPath:           filepath.Join(o.Dir, "admin.kubeconfig"),
		started:                  time.Now(),
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, cp.Stop())
		}
	}()
	pkiDir := filepath.Join(o.Dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return nil, err
	}
	if cp.PKI, err = newPKI(pkiDir); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	etcdPort, peerPort, apiPort, kcmPort := ports[0], ports[1], ports[2], ports[3]
	cp.EtcdURL = "http://" + hostPort(etcdPort)
	cp.URL = "https://" + hostPort(apiPort)

	fmt.Fprintf(o.Log, "starting etcd on %s\n", cp.EtcdURL)
	if err := cp.startEtcd(ctx, peerPort); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "starting kube-apiserver on %s (audit log %s)\n", cp.URL, cp.AuditLogPath)
	policy := o.AuditPolicy
	if policy == "" {
		policy = AuditPolicy
	}
	if err := cp.startAPIServer(ctx, apiPort, o.Verbosity, policy); err != nil {
		return nil, err
	}
	if !o.NoControllerManager {
		fmt.Fprintf(o.Log, "starting kube-controller-manager\n")
		if err := cp.startControllerManager(ctx, kcmPort); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(o.Log, "control plane ready in %s\n", time.Since(cp.started).Round(10*time.Millisecond))
	return cp, nil
}

func (cp *ControlPlane) startEtcd(ctx context.Context, peerPort int) error {
	peer := "http://" + hostPort(peerPort)
	var err error
	cp.etcd, err = startProcess("etcd", cp.EtcdLogPath, cp.Binaries.Etcd,
		"--name=default",
		"--data-dir="+filepath.Join(cp.Dir, "etcd"),
		"--listen-client-urls="+cp.EtcdURL,
		"--advertise-client-urls="+cp.EtcdURL,
		"--listen-peer-urls="+peer,
		"--initial-advertise-peer-urls="+peer,
		"--initial-cluster=default="+peer,
		// A throwaway store: fsync only slows the test down.
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	return cp.waitHTTP(ctx, cp.etcd, http.DefaultClient, cp.EtcdURL+"/health", 30*time.Second)
}

func (cp *ControlPlane) startAPIServer(ctx context.Context, port, verbosity int, policy string) error {
	if err := os.WriteFile(cp.AuditPolicyPath, []byte(policy), 0o600); err != nil {
		return err
	}
	tokenFile := filepath.Join(cp.Dir, "tokens.csv")
	var tokens strings.Builder
	for _, u := range StaticUsers {
		fmt.Fprintf(&tokens, "%s,%s,%s,\"%s\"\n", u.Token, u.Name, u.UID, strings.Join(u.Groups, ","))
	}
	if err := os.WriteFile(tokenFile, []byte(tokens.String()), 0o600); err != nil {
		return err
	}
	p := cp.PKI
	var err error
	cp.apiserver, err = startProcess("kube-apiserver", cp.APIServerLogPath, cp.Binaries.KubeAPIServer,
		"--etcd-servers="+cp.EtcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		// The default reconciler would publish 127.0.0.1 as the endpoint of
		// the kubernetes service, which the apiserver rejects.
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--cert-dir="+filepath.Join(cp.Dir, "apiserver-certs"),
		"--tls-cert-file="+p.APIServer.CertFile,
		"--tls-private-key-file="+p.APIServer.KeyFile,
		"--client-ca-file="+p.CA.CertFile,
		"--token-auth-file="+tokenFile,
		"--service-account-issuer="+ServiceAccountIssuer,
		"--service-account-key-file="+p.ServiceAccountPubFile,
		"--service-account-signing-key-file="+p.ServiceAccountKeyFile,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		// Reach kubelets (exec, logs) at the node's InternalIP: the
		// default tries the node's host name first, which no DNS resolves.
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
		"--audit-policy-file="+cp.AuditPolicyPath,
		"--audit-log-path="+cp.AuditLogPath,
		"--audit-log-format=json",
		// Blocking: each event is written before the response goes out, so
		// the log is complete the moment a scenario returns.
		"--audit-log-mode=blocking",
		"--audit-log-maxsize=0",
		fmt.Sprintf("-v=%d", verbosity),
	)
	if err != nil {
		return err
	}
	if err := cp.writeKubeconfigs(); err != nil {
		return err
	}
	if cp.Config, err = clientcmd.BuildConfigFromFlags("", cp.KubeconfigPath); err != nil {
		return err
	}
	cp.Config.UserAgent = KubectlUserAgent
	cp.Config.QPS, cp.Config.Burst = 100, 200
	if cp.Client, err = kubernetes.NewForConfig(cp.Config); err != nil {
		return err
	}
	hc, err := rest.HTTPClientFor(cp.Config)
	if err != nil {
		return err
	}
	// /readyz includes the RBAC bootstrap post-start hook: once it is 200
	// the controller manager's roles exist.
	return cp.waitHTTP(ctx, cp.apiserver, hc, cp.URL+"/readyz", 90*time.Second)
}

// KubectlUserAgent is the user agent of the admin client, as kubectl
// v1.37.2 sends it, so the log reads like one written by a person at a
// terminal.
const KubectlUserAgent = "kubectl/v1.37.2 (linux/amd64) kubernetes/0000000"

func (cp *ControlPlane) startControllerManager(ctx context.Context, port int) error {
	kubeconfig := filepath.Join(cp.Dir, "kube-controller-manager.kubeconfig")
	var err error
	cp.controllerManager, err = startProcess("kube-controller-manager", cp.ControllerManagerLogPath, cp.Binaries.KubeControllerManager,
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir="+filepath.Join(cp.Dir, "kcm-certs"),
		// Each controller authenticates as its own service account in
		// kube-system (generic-garbage-collector, replicaset-controller...),
		// as on a kubeadm cluster; otherwise all would be one user.
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+cp.PKI.ServiceAccountKeyFile,
		"--root-ca-file="+cp.PKI.CA.CertFile,
		"--controllers=*",
		"--leader-elect=true",
		"-v=2",
	)
	if err != nil {
		return err
	}
	// Until the garbage collector's informers have synced it cannot orphan
	// or delete dependents; the scenarios need it working.
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	return cp.controllerManager.waitForLog(wctx, "all resource monitors have synced")
}

// waitHTTP polls url until it answers 200, the process exits, or timeout.
func (cp *ControlPlane) waitHTTP(ctx context.Context, p *process, hc *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		if err := p.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s (last: %s): %w\n%s", p.name, url, last, ctx.Err(), tail(p.logPath, 30))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (cp *ControlPlane) writeKubeconfigs() error {
	p := cp.PKI
	write := func(path, user string, kp KeyPair) error {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: cp.URL, CertificateAuthorityData: p.CA.CertPEM}
		cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.CertPEM, ClientKeyData: kp.KeyPEM}
		cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: user}
		cfg.CurrentContext = "local"
		return clientcmd.WriteToFile(*cfg, path)
	}
	if err := write(cp.KubeconfigPath, "admin", p.Admin); err != nil {
		return err
	}
	return write(filepath.Join(cp.Dir, "kube-controller-manager.kubeconfig"), "kube-controller-manager", p.ControllerManager)
}

// Stop stops the controller manager, the apiserver and etcd, in that order,
// each by its process id. The audit log is complete once Stop returns.
func (cp *ControlPlane) Stop() error {
	var errs []error
	for _, p := range []*process{cp.controllerManager, cp.apiserver, cp.etcd} {
		if p != nil {
			errs = append(errs, p.stop(20*time.Second))
		}
	}
	return errors.Join(errs...)
}

// PIDs returns the process ids of the running binaries, by name.
func (cp *ControlPlane) PIDs() map[string]int {
	m := map[string]int{}
	for _, p := range []*process{cp.etcd, cp.apiserver, cp.controllerManager} {
		if p != nil {
			m[p.name] = p.PID()
		}
	}
	return m
}

// Healthy returns an error if a process has exited.
func (cp *ControlPlane) Healthy() error {
	var errs []error
	for _, p := range []*process{cp.etcd, cp.apiserver, cp.controllerManager} {
		if p != nil {
			errs = append(errs, p.exited())
		}
	}
	return errors.Join(errs...)
}

// ClientConfig describes a non-admin client of the control plane.
type ClientConfig struct {
	// Cert authenticates with a client certificate; Token with a bearer
	// token. Set one.
	Cert  *KeyPair
	Token string
	// Source is the loopback address the client connects from (127.x.y.z),
	// which the audit log records as the event's sourceIPs. Nil means the
	// kernel's choice (127.0.0.1).
	Source net.IP
	// UserAgent, empty for client-go's default.
	UserAgent string
}

// RESTConfig returns a client configuration for c, trusting the
// control plane's CA. Each call gets its own transport (a custom dialer
// makes client-go skip its transport cache), so connections, and so source
// addresses, are never shared between clients.
func (cp *ControlPlane) RESTConfig(c ClientConfig) *rest.Config {
	cfg := &rest.Config{
		Host:      cp.URL,
		UserAgent: c.UserAgent,
		QPS:       100,
		Burst:     200,
		Timeout:   30 * time.Second,
	}
	cfg.TLSClientConfig.CAData = cp.PKI.CA.CertPEM
	if c.Cert != nil {
		cfg.TLSClientConfig.CertData = c.Cert.CertPEM
		cfg.TLSClientConfig.KeyData = c.Cert.KeyPEM
	}
	cfg.BearerToken = c.Token
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if c.Source != nil {
		d.LocalAddr = &net.TCPAddr{IP: c.Source}
	}
	cfg.Dial = d.DialContext
	return cfg
}

// ClientFor returns a clientset for c.
func (cp *ControlPlane) ClientFor(c ClientConfig) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(cp.RESTConfig(c))
}
