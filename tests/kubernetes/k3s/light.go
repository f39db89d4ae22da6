package main

// The light stand-in's server, and the token check every joining node makes.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"
)

// validateToken asks the server's supervisor for /v1-k3s/readyz with the token, as a
// joining K3s node does: basic auth "node:<secret>" for an agent, "server:<secret>" for a
// server. Real K3s and the light server both answer 401 to a token they do not hold;
// while a real server is starting it answers 503, which is waited out.
func validateToken(server string, caPEM []byte, user, secret string) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		request, _ := http.NewRequest("GET", server+"/v1-k3s/readyz", nil)
		request.SetBasicAuth(user, secret)
		response, err := client.Do(request)
		if err == nil {
			response.Body.Close()
			switch response.StatusCode {
			case http.StatusOK:
				return nil
			case http.StatusUnauthorized, http.StatusForbidden:
				return fmt.Errorf("%s", response.Status)
			}
			err = fmt.Errorf("%s", response.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(2 * time.Second)
	}
}

// lightServer: no Kubernetes; the CA, the token check on :6443 for joining nodes (the
// server token joins servers and agents, the agent token agents only), the kubeconfig.
func lightServer(c Config, ca *authority, ip, secret, agentSecret string) {
	ca.issue(tlsDir, "serving-kube-apiserver", "kube-apiserver", nil, true,
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(ip)}, []string{"localhost"})
	ca.issue(tlsDir, "client-admin", "system:admin", []string{"system:masters"}, false, nil, nil)
	writeAdminKubeconfig(c, ca)
	// K3s's roles: the server token joins servers and agents, the agent token agents only.
	valid := map[string]bool{"server:" + secret: true, "node:" + secret: true}
	if agentSecret != "" {
		valid["node:"+agentSecret] = true
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
		user, password, _ := r.BasicAuth()
		if r.URL.Path != "/v1-k3s/readyz" || !valid[user+":"+password] {
			logf("error", "join from %s: bad token", r.RemoteAddr)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		logf("info", "join from %s: accepted", r.RemoteAddr)
		fmt.Fprintln(w, "ok")
	})))
}
