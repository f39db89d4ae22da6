package main

// The light stand-in's server, and the token check every joining node makes.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// validateToken asks the server's API for /api with the bootstrap token: a real
// kube-apiserver and the light server both answer 401 to a token they do not hold.
func validateToken(server string, caPEM []byte, token string) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	request, _ := http.NewRequest("GET", server+"/api", nil)
	request.Header.Set("Authorization", "Bearer "+token)
	response, err := client.Do(request)
	if err != nil {
		return err
	}
	response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", response.Status)
	}
	return nil
}

// lightServer: no Kubernetes; the CA, the token check on :6443 for joining nodes (the
// server token joins servers and agents, the agent token agents only), the kubeconfig.
func lightServer(c Config, ca *authority, ip, secret, agentSecret string) {
	ca.issue(tlsDir, "serving-kube-apiserver", "kube-apiserver", nil, true,
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(ip)}, []string{"localhost"})
	ca.issue(tlsDir, "client-admin", "system:admin", []string{"system:masters"}, false, nil, nil)
	writeAdminKubeconfig(c, ca)
	valid := map[string]bool{}
	for _, s := range []string{secret, agentSecret} {
		if s != "" {
			id, key := bootstrapToken(s)
			valid[id+"."+key] = true
		}
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "serving-kube-apiserver.crt"),
		filepath.Join(tlsDir, "serving-kube-apiserver.key"))
	if err != nil {
		fatalf("serving certificate: %v", err)
	}
	bind := c.str("bind-address")
	if bind == "" {
		bind = "0.0.0.0"
	}
	listener, err := tls.Listen("tcp", net.JoinHostPort(bind, "6443"), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		fatalf("listen on %s:6443: %v", bind, err)
	}
	logf("info", "Running the light K3s stand-in's join endpoint on %s:6443 (no Kubernetes API)", bind)
	sup := newSupervisor()
	sup.ready()
	fatalf("%v", http.Serve(listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if r.URL.Path != "/api" || !valid[token] {
			logf("error", "join from %s: bad token", r.RemoteAddr)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		logf("info", "join from %s: accepted", r.RemoteAddr)
		fmt.Fprintln(w, `{"kind":"APIVersions","versions":["v1"]}`)
	})))
}
