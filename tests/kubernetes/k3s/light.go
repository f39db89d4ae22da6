package main

// The light server, and the token check every joining node (agent or server) makes.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
)

var (
	tlsDir   = filepath.Join(dataDir, "server/tls")
	agentDir = filepath.Join(dataDir, "agent")
)

func nodeIP(c Config) string {
	if ip := c.str("node-ip"); ip != "" {
		return strings.Split(ip, ",")[0]
	}
	return "127.0.0.1"
}

func runServer(c Config) {
	if c.str("server") != "" {
		// A joining server: no control plane of its own here (see the header).
		token := serverToken(c)
		if token == "" {
			fatalf("--token is required when joining a server")
		}
		runNode(c, c.str("server"), token, "server")
		return
	}
	stopOnSignal()
	token := serverToken(c)
	secret := secretOf(token)
	ca := loadOrCreateCA(tlsDir)
	if secret == "" {
		secret = existingSecret()
	}
	if secret == "" {
		secret = randomSecret()
	}
	old := umask(0o077)
	writeFile(filepath.Join(dataDir, "server/token"), []byte(fmt.Sprintf("K10%s::server:%s\n", caHash(ca.pem), secret)), 0o600)
	if _, err := os.Lstat(filepath.Join(dataDir, "server/node-token")); err != nil {
		_ = os.Symlink("token", filepath.Join(dataDir, "server/node-token"))
	}
	agentSecret := secretOf(agentToken(c))
	if agentSecret != "" {
		writeFile(filepath.Join(dataDir, "server/agent-token"), []byte(fmt.Sprintf("K10%s::node:%s\n", caHash(ca.pem), agentSecret)), 0o600)
	}
	umask(old)
	lightServer(c, ca, nodeIP(c), secret, agentSecret)
}

func existingSecret() string {
	raw, err := os.ReadFile(filepath.Join(dataDir, "server/token"))
	if err != nil {
		return ""
	}
	return secretOf(strings.TrimSpace(string(raw)))
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
	notifyReady()
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

// writeAdminKubeconfig writes K3s's /etc/rancher/k3s/k3s.yaml: the admin credential
// embedded (K3s embeds it), at write-kubeconfig-mode.
func writeAdminKubeconfig(c Config, ca *authority) {
	mode := os.FileMode(0o600)
	if m := c.str("write-kubeconfig-mode"); m != "" {
		parsed, err := strconv.ParseUint(m, 8, 32)
		if err != nil {
			fatalf("invalid write-kubeconfig-mode %q", m)
		}
		mode = os.FileMode(parsed)
	}
	path := kubeconfigFile
	if c.str("write-kubeconfig") != "" {
		path = c.str("write-kubeconfig")
	}
	cert, _ := os.ReadFile(filepath.Join(tlsDir, "client-admin.crt"))
	key, _ := os.ReadFile(filepath.Join(tlsDir, "client-admin.key"))
	enc := base64.StdEncoding.EncodeToString
	writeFile(path, renderKubeconfig(map[string]string{
		"Server": "https://127.0.0.1:6443", "CA": enc(ca.pem), "Cert": enc(cert), "Key": enc(key)}), mode)
}

func runAgent(c Config) {
	server := c.str("server")
	if server == "" {
		fatalf("--server is required")
	}
	token := serverToken(c)
	if token == "" {
		fatalf("--token is required")
	}
	runNode(c, server, token, "agent")
}

// runNode joins the cluster at server with token, as an agent (or a joining server): it
// fetches and pins the CA, checks the token, and then stays up, running nothing.
func runNode(c Config, server, token, role string) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		fatalf("invalid server url %q: must be https://<host>:<port>", server)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":6443"
	}
	var caPEM []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		caPEM, err = servedCA(host)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			fatalf("failed to get CA certs: Get \"%s/cacerts\": %v", strings.TrimSuffix(server, "/"), err)
		}
		time.Sleep(time.Second)
	}
	if want := hashOf(token); want != "" && want != caHash(caPEM) {
		fatalf("token CA hash does not match the Cluster CA certificate hash: %s != %s", want, caHash(caPEM))
	}
	writeFile(filepath.Join(agentDir, "server-ca.crt"), caPEM, 0o644)
	id, secret := bootstrapToken(secretOf(token))
	bootstrap := filepath.Join(agentDir, "bootstrap.kubeconfig")
	old := umask(0o077)
	writeFile(bootstrap, renderKubeconfig(map[string]string{
		"Server": "https://" + host, "CAFile": filepath.Join(agentDir, "server-ca.crt"), "Token": id + "." + secret}), 0o600)
	umask(old)
	user := "node"
	if role == "server" {
		user = "server"
	}
	if err := validateToken("https://"+host, caPEM, user, secretOf(token)); err != nil {
		fatalf("%s rejected the %s token: %v", server, role, err)
	}
	if role == "server" {
		joinedServerFiles(server, host, caPEM, token, bootstrap)
	}
	stopOnSignal()
	logf("info", "Connecting to proxy url=\"wss://%s/v1-k3s/connect\"", host)
	notifyReady()
	select {}
}

// joinedServerFiles: what K3s writes on a server that joined one, which the deploy waits
// for: the cluster's token, and a kubeconfig. Running no API server of its own, this one
// points at the server it joined, with the node's bootstrap credential (no admin rights).
func joinedServerFiles(server, host string, caPEM []byte, token, bootstrap string) {
	old := umask(0o077)
	defer umask(old)
	writeFile(filepath.Join(dataDir, "server/token"), []byte(fmt.Sprintf("K10%s::server:%s\n", caHash(caPEM), secretOf(token))), 0o600)
	if _, err := os.Lstat(filepath.Join(dataDir, "server/node-token")); err != nil {
		_ = os.Symlink("token", filepath.Join(dataDir, "server/node-token"))
	}
	raw, err := os.ReadFile(bootstrap)
	if err != nil {
		fatalf("read %s: %v", bootstrap, err)
	}
	writeFile(kubeconfigFile, raw, 0o600)
}

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

// kubeconfigTemplate renders both kubeconfigs K3s writes here: the admin one with
// everything embedded (k3s.yaml), and a joining node's bootstrap one (the CA file and a
// bootstrap token).
var kubeconfigTemplate = template.Must(template.New("kubeconfig").Parse(`apiVersion: v1
kind: Config
clusters:
- cluster:
{{- if .CAFile }}
    certificate-authority: {{ .CAFile }}
{{- else }}
    certificate-authority-data: {{ .CA }}
{{- end }}
    server: {{ .Server }}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
preferences: {}
users:
- name: default
  user:
{{- if .Token }}
    token: {{ .Token }}
{{- else }}
    client-certificate-data: {{ .Cert }}
    client-key-data: {{ .Key }}
{{- end }}
`))

func renderKubeconfig(values map[string]string) []byte {
	var b bytes.Buffer
	_ = kubeconfigTemplate.Execute(&b, values)
	return b.Bytes()
}

// stopOnSignal: SIGTERM or SIGINT stops the stand-in with status 0, as systemd stops K3s.
func stopOnSignal() {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		logf("info", "stopped on %v", sig)
		os.Exit(0)
	}()
}

// notifyReady tells systemd (Type=notify) the node is up, as K3s does.
func notifyReady() {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		logf("error", "sd_notify: %v", err)
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("READY=1"))
}

func umask(mask int) int { return syscall.Umask(mask) }
