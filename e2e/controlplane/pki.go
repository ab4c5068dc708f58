package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// CA is a certificate authority made for one control plane.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	// CertFile is the PEM certificate on disk.
	CertFile string
}

// KeyPair is a certificate with its key, in memory and on disk.
type KeyPair struct {
	CertPEM, KeyPEM     []byte
	CertFile, KeyFile   string
	NotBefore, NotAfter time.Time
}

// TLSCertificate returns kp for a tls.Config.
func (kp KeyPair) TLSCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
}

var (
	serialMu sync.Mutex
	serial   = big.NewInt(time.Now().UnixNano())
)

// nextSerial keeps serial numbers unique: scenarios issue certificates
// concurrently.
func nextSerial() *big.Int {
	serialMu.Lock()
	defer serialMu.Unlock()
	serial = new(big.Int).Add(serial, big.NewInt(1))
	return new(big.Int).Set(serial)
}

func newCA(dir, name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.CertFile = filepath.Join(dir, name+".crt")
	return ca, os.WriteFile(ca.CertFile, ca.CertPEM, 0o600)
}

// certSpec describes a leaf certificate.
type certSpec struct {
	name      string // file name stem
	cn        string
	orgs      []string
	ips       []net.IP
	dnsNames  []string
	server    bool
	notBefore time.Time
	notAfter  time.Time
}

// issue signs a leaf certificate and writes it to dir/<name>.{crt,key}.
func (ca *CA) issue(dir string, s certSpec) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	if s.notBefore.IsZero() {
		s.notBefore = time.Now().Add(-time.Hour)
	}
	if s.notAfter.IsZero() {
		s.notAfter = time.Now().Add(24 * time.Hour)
	}
	usage := x509.ExtKeyUsageClientAuth
	if s.server {
		usage = x509.ExtKeyUsageServerAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.orgs},
		NotBefore:    s.notBefore,
		NotAfter:     s.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  s.ips,
		DNSNames:     s.dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return KeyPair{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	kp := KeyPair{
		CertPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		CertFile:  filepath.Join(dir, s.name+".crt"),
		KeyFile:   filepath.Join(dir, s.name+".key"),
		NotBefore: s.notBefore,
		NotAfter:  s.notAfter,
	}
	if err := os.WriteFile(kp.CertFile, kp.CertPEM, 0o600); err != nil {
		return KeyPair{}, err
	}
	return kp, os.WriteFile(kp.KeyFile, kp.KeyPEM, 0o600)
}

// PKI is every credential one control plane and its scenarios use.
type PKI struct {
	Dir string
	// CA signs the serving and client certificates the apiserver trusts.
	CA *CA
	// UnknownCA is a CA the apiserver does not trust.
	UnknownCA *CA

	APIServer KeyPair // serving certificate for 127.0.0.1
	Admin     KeyPair // CN=kubernetes-admin, O=system:masters
	// ControllerManager is CN=system:kube-controller-manager, the identity
	// the bootstrap RBAC policy grants the controller manager.
	ControllerManager KeyPair

	// ServiceAccountKeyFile / ServiceAccountPubFile sign and verify
	// service-account tokens.
	ServiceAccountKeyFile, ServiceAccountPubFile string
}

func newPKI(dir string) (*PKI, error) {
	p := &PKI{Dir: dir}
	var err error
	if p.CA, err = newCA(dir, "ca"); err != nil {
		return nil, err
	}
	if p.UnknownCA, err = newCA(dir, "unknown-ca"); err != nil {
		return nil, err
	}
	if p.APIServer, err = p.CA.issue(dir, certSpec{
		name: "apiserver", cn: "kube-apiserver", server: true,
		ips:      []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		dnsNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}); err != nil {
		return nil, err
	}
	if p.Admin, err = p.CA.issue(dir, certSpec{name: "admin", cn: "kubernetes-admin", orgs: []string{"system:masters"}}); err != nil {
		return nil, err
	}
	if p.ControllerManager, err = p.CA.issue(dir, certSpec{name: "kube-controller-manager", cn: "system:kube-controller-manager"}); err != nil {
		return nil, err
	}
	if err := p.writeServiceAccountKeys(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *PKI) writeServiceAccountKeys() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	p.ServiceAccountKeyFile = filepath.Join(p.Dir, "sa.key")
	p.ServiceAccountPubFile = filepath.Join(p.Dir, "sa.pub")
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(p.ServiceAccountKeyFile, priv, 0o600); err != nil {
		return err
	}
	return os.WriteFile(p.ServiceAccountPubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

// NodeCert issues a client certificate for a kubelet: CN=system:node:<node>,
// O=system:nodes, the identity the Node authorizer and NodeRestriction expect.
func (p *PKI) NodeCert(node string) (KeyPair, error) {
	return p.CA.issue(p.Dir, certSpec{name: "node-" + node, cn: "system:node:" + node, orgs: []string{"system:nodes"}})
}

// ClientCert issues a client certificate for user cn in groups orgs.
func (p *PKI) ClientCert(name, cn string, orgs ...string) (KeyPair, error) {
	return p.CA.issue(p.Dir, certSpec{name: name, cn: cn, orgs: orgs})
}

// ExpiredNodeCert issues a kubelet certificate, signed by the trusted CA,
// that expired a day before now: what a node presents after its rotation
// silently stopped.
func (p *PKI) ExpiredNodeCert(node string) (KeyPair, error) {
	now := time.Now()
	return p.CA.issue(p.Dir, certSpec{
		name: "expired-node-" + node, cn: "system:node:" + node, orgs: []string{"system:nodes"},
		notBefore: now.Add(-400 * 24 * time.Hour), notAfter: now.Add(-24 * time.Hour),
	})
}

// UnknownCACert issues a valid client certificate from a CA the apiserver
// does not trust.
func (p *PKI) UnknownCACert(cn string, orgs ...string) (KeyPair, error) {
	return p.UnknownCA.issue(p.Dir, certSpec{name: "unknown-ca-" + cn, cn: cn, orgs: orgs})
}

// ServingCert issues a serving certificate for 127.0.0.1, for webhooks the
// scenarios run in process.
func (p *PKI) ServingCert(name string) (KeyPair, error) {
	return p.CA.issue(p.Dir, certSpec{name: name, cn: name, server: true, ips: []net.IP{net.ParseIP("127.0.0.1")}})
}

func (p *PKI) String() string { return fmt.Sprintf("PKI(%s)", p.Dir) }
