// Command logserver serves a directory the way a kubelet serves /var/log/:
// GET /logs/<path> with Go's http.FileServer (directory listings, Range
// requests), over HTTPS that requires a client certificate signed by the
// cluster CA, as the API server's kubelet client presents it. The HA
// control plane of the end-to-end tests runs one per control-plane Node,
// inside a network namespace, so that the API server's node proxy (which
// refuses loopback addresses) can reach it.
//
// With -cut-once N, the first download of each file is cut after N bytes
// (the connection closed under it), as a dropped network path would; each
// request is logged with its Range header.
//
//	logserver -listen 10.213.0.2:10250 -root DIR -cert F -key F -client-ca F [-client-cn NAME] [-cut-once N]
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
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to listen on (host:port)")
	root := flag.String("root", "", "the directory served as /logs/ (the node's /var/log/)")
	certFile := flag.String("cert", "", "serving certificate (PEM)")
	keyFile := flag.String("key", "", "serving key (PEM)")
	clientCA := flag.String("client-ca", "", "CA that signs the accepted client certificates (PEM)")
	clientCN := flag.String("client-cn", "", "if set, the only client certificate common name accepted")
	cutOnce := flag.Int64("cut-once", 0, "if set, cut the first download of each file after this many bytes")
	flag.Parse()
	if err := run(*listen, *root, *certFile, *keyFile, *clientCA, *clientCN, *cutOnce); err != nil {
		log.Fatal(err)
	}
}

func run(listen, root, certFile, keyFile, clientCA, clientCN string, cutOnce int64) error {
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
	var mu sync.Mutex
	cut := map[string]bool{}
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
		fmt.Printf("GET %s range=%q\n", r.URL.Path, r.Header.Get("Range"))
		if cutOnce > 0 && r.Header.Get("Range") == "" {
			mu.Lock()
			first := !cut[r.URL.Path]
			cut[r.URL.Path] = true
			mu.Unlock()
			if first {
				w = &cuttingWriter{ResponseWriter: w, left: cutOnce, path: r.URL.Path}
			}
		}
		files.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: mux,
		// HTTP/1.1 only, so that a cut can close the connection under a
		// response (a hijack).
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
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

// cuttingWriter sends left body bytes of a response, then closes the
// connection under it. Directory listings are not cut.
type cuttingWriter struct {
	http.ResponseWriter
	left int64
	path string
	done bool
}

func (c *cuttingWriter) Write(p []byte) (int, error) {
	if c.done {
		return 0, net.ErrClosed
	}
	if c.Header().Get("Content-Type") == "text/html; charset=utf-8" || int64(len(p)) <= c.left {
		c.left -= int64(len(p))
		return c.ResponseWriter.Write(p)
	}
	n, err := c.ResponseWriter.Write(p[:c.left])
	c.done = true
	if err != nil {
		return n, err
	}
	c.ResponseWriter.(http.Flusher).Flush()
	conn, buf, err := c.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return n, err
	}
	_ = buf.Flush()
	_ = conn.Close()
	fmt.Printf("cut %s after %d bytes\n", c.path, n)
	return n, net.ErrClosed
}
