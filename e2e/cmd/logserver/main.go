// Command logserver serves a directory the way a kubelet serves /var/log/:
// GET /logs/<path> with Go's http.FileServer (directory listings, Range
// requests), over HTTPS that requires a client certificate signed by the
// cluster CA, as the API server's kubelet client presents it. The HA
// control plane of the end-to-end tests runs one per control-plane Node,
// inside a network namespace, so that the API server's node proxy (which
// refuses loopback addresses) can reach it.
//
//	logserver -listen 10.213.0.2:10250 -root DIR -cert F -key F -client-ca F [-client-cn NAME]
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to listen on (host:port)")
	root := flag.String("root", "", "the directory served as /logs/ (the node's /var/log/)")
	certFile := flag.String("cert", "", "serving certificate (PEM)")
	keyFile := flag.String("key", "", "serving key (PEM)")
	clientCA := flag.String("client-ca", "", "CA that signs the accepted client certificates (PEM)")
	clientCN := flag.String("client-cn", "", "if set, the only client certificate common name accepted")
	flag.Parse()
	if err := run(*listen, *root, *certFile, *keyFile, *clientCA, *clientCN); err != nil {
		log.Fatal(err)
	}
}

func run(listen, root, certFile, keyFile, clientCA, clientCN string) error {
	if listen == "" || root == "" || certFile == "" || keyFile == "" || clientCA == "" {
		return errors.New("-listen, -root, -cert, -key and -client-ca are required")
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return fmt.Errorf("-root %s: not a directory", root)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(clientCA)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("-client-ca %s: no certificate", clientCA)
	}
	files := http.StripPrefix("/logs/", http.FileServer(http.Dir(root)))
	mux := http.NewServeMux()
	mux.HandleFunc("/logs/", func(w http.ResponseWriter, r *http.Request) {
		// The kubelet's /logs/ web service allows GET only.
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if clientCN != "" && r.TLS.PeerCertificates[0].Subject.CommonName != clientCN {
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=get, resource=nodes, subresource(s)=[log])",
				r.TLS.PeerCertificates[0].Subject.CommonName), http.StatusForbidden)
			return
		}
		files.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
		},
	}
	// The harness waits for this line.
	fmt.Printf("listening on %s, serving %s as /logs/\n", l.Addr(), root)
	return srv.ServeTLS(l, "", "")
}
