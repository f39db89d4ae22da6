package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

const (
	serviceCIDR = "10.43.0.0/16"
	clusterDNS  = "10.43.0.10"
)

var (
	tlsDir  = filepath.Join(dataDir, "server/tls")
	credDir = filepath.Join(dataDir, "server/cred")
)

func nodeIP(c Config) string {
	if ip := c.str("node-ip"); ip != "" {
		return strings.Split(ip, ",")[0]
	}
	return "127.0.0.1"
}

func nodeName(c Config) string {
	if name := c.str("node-name"); name != "" {
		return name
	}
	name, _ := os.Hostname()
	return name
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
	sup := newSupervisor()
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

	ip, name := nodeIP(c), nodeName(c)
	if !realNode() {
		lightServer(c, ca, ip, secret, agentSecret)
		return
	}
	sans := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(ip), net.ParseIP("10.43.0.1")}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	for _, san := range c.list("tls-san") {
		if parsed := net.ParseIP(san); parsed != nil {
			sans = append(sans, parsed)
		} else {
			dns = append(dns, san)
		}
	}
	ca.issue(tlsDir, "serving-kube-apiserver", "kube-apiserver", nil, true, sans, dns)
	ca.issue(tlsDir, "client-admin", "system:admin", []string{"system:masters"}, false, nil, nil)
	ca.issue(tlsDir, "client-controller", "system:kube-controller-manager", nil, false, nil, nil)
	ca.issue(tlsDir, "client-scheduler", "system:kube-scheduler", nil, false, nil, nil)
	ca.issue(tlsDir, "client-kube-apiserver", "system:kube-apiserver", []string{"system:masters"}, false, nil, nil)
	if !exists(filepath.Join(tlsDir, "service.key")) {
		newKey(filepath.Join(tlsDir, "service.key"))
	}
	local := "https://127.0.0.1:6443"
	writeKubeconfig(filepath.Join(credDir, "admin.kubeconfig"), local, "client-admin", 0o600)
	writeKubeconfig(filepath.Join(credDir, "controller.kubeconfig"), local, "client-controller", 0o600)
	writeKubeconfig(filepath.Join(credDir, "scheduler.kubeconfig"), local, "client-scheduler", 0o600)

	etcdDir := filepath.Join(dataDir, "server/db/etcd")
	sup.start("etcd", component("etcd"), append([]string{"--name", name, "--data-dir", etcdDir,
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", name + "=http://127.0.0.1:2380", "--listen-metrics-urls", "http://127.0.0.1:2381",
		"--quota-backend-bytes", "268435456", "--log-level", "warn"}, flags(c.list("etcd-arg"))...)...)
	bind := c.str("bind-address")
	if bind == "" {
		bind = "0.0.0.0"
	}
	sup.start("kube-apiserver", component("kube-apiserver"), append([]string{
		"--etcd-servers", "http://127.0.0.1:2379", "--bind-address", bind, "--advertise-address", ip,
		"--secure-port", "6443", "--tls-cert-file", filepath.Join(tlsDir, "serving-kube-apiserver.crt"),
		"--tls-private-key-file", filepath.Join(tlsDir, "serving-kube-apiserver.key"),
		"--client-ca-file", filepath.Join(tlsDir, "server-ca.crt"),
		"--kubelet-client-certificate", filepath.Join(tlsDir, "client-kube-apiserver.crt"),
		"--kubelet-client-key", filepath.Join(tlsDir, "client-kube-apiserver.key"),
		"--kubelet-preferred-address-types", "InternalIP",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", filepath.Join(tlsDir, "service.key"),
		"--service-account-signing-key-file", filepath.Join(tlsDir, "service.key"),
		"--service-cluster-ip-range", serviceCIDR, "--authorization-mode", "Node,RBAC",
		"--enable-bootstrap-token-auth", "--enable-admission-plugins", "NodeRestriction",
		"--anonymous-auth=false", "--allow-privileged=true", "--profiling=false",
		// No kube-proxy: webhooks and aggregated APIs are reached at their endpoints.
		"--enable-aggregator-routing=true",
	}, flags(c.list("kube-apiserver-arg"))...)...)
	admin := filepath.Join(credDir, "admin.kubeconfig")
	until("kube-apiserver ready", 120*time.Second, sup, func() bool {
		_, err := run(component("kubectl"), "--kubeconfig", admin, "get", "--raw", "/readyz")
		return err == nil
	})
	bootstrapObjects(admin, secret, agentSecret)
	controller := filepath.Join(credDir, "controller.kubeconfig")
	sup.start("kube-controller-manager", component("kube-controller-manager"), append([]string{
		"--kubeconfig", controller, "--authentication-kubeconfig", controller, "--authorization-kubeconfig", controller,
		"--cluster-signing-cert-file", filepath.Join(tlsDir, "server-ca.crt"),
		"--cluster-signing-key-file", filepath.Join(tlsDir, "server-ca.key"),
		"--root-ca-file", filepath.Join(tlsDir, "server-ca.crt"),
		"--service-account-private-key-file", filepath.Join(tlsDir, "service.key"),
		"--use-service-account-credentials=true", "--bind-address", "127.0.0.1", "--secure-port", "10257",
		"--leader-elect=false", "--profiling=false",
	}, flags(c.list("kube-controller-manager-arg"))...)...)
	scheduler := filepath.Join(credDir, "scheduler.kubeconfig")
	sup.start("kube-scheduler", component("kube-scheduler"), append([]string{
		"--kubeconfig", scheduler, "--authentication-kubeconfig", scheduler, "--authorization-kubeconfig", scheduler,
		"--bind-address", "127.0.0.1", "--secure-port", "10259", "--leader-elect=false", "--profiling=false",
	}, flags(c.list("kube-scheduler-arg"))...)...)
	writeAdminKubeconfig(c, ca)

	// The server is a node too (K3s's default; disable-agent is not stood in).
	nodeDir := filepath.Join(dataDir, "agent")
	ca.issue(nodeDir, "client-kubelet", "system:node:"+name, []string{"system:nodes"}, false, nil, nil)
	writeFile(filepath.Join(nodeDir, "server-ca.crt"), ca.pem, 0o644)
	writeKubeconfig(filepath.Join(nodeDir, "kubelet.kubeconfig"), local, filepath.Join(nodeDir, "client-kubelet"), 0o600)
	startNode(sup, c, name, ip, "")
	go deployController(admin)
	sup.ready()
	sup.wait()
}

func existingSecret() string {
	raw, err := os.ReadFile(filepath.Join(dataDir, "server/token"))
	if err != nil {
		return ""
	}
	return secretOf(strings.TrimSpace(string(raw)))
}

// flags: K3s's "<name>=<value>" args -> "--<name>=<value>".
func flags(args []string) []string {
	out := []string{}
	for _, a := range args {
		out = append(out, "--"+strings.TrimPrefix(a, "--"))
	}
	return out
}

var kubeconfigTemplate = template.Must(template.New("kubeconfig").Parse(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: {{ .CA }}
    server: {{ .Server }}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
{{- if .Token }}
    token: {{ .Token }}
{{- else }}
    client-certificate: {{ .Cert }}.crt
    client-key: {{ .Cert }}.key
{{- end }}
`))

func renderKubeconfig(server, ca, cert, token string) []byte {
	var b strings.Builder
	_ = kubeconfigTemplate.Execute(&b, map[string]string{"Server": server, "CA": ca, "Cert": cert, "Token": token})
	return []byte(b.String())
}

func writeKubeconfig(path, server, cert string, mode os.FileMode) {
	if !filepath.IsAbs(cert) {
		cert = filepath.Join(tlsDir, cert)
	}
	ca := filepath.Join(filepath.Dir(cert), "server-ca.crt")
	writeFile(path, renderKubeconfig(server, ca, cert, ""), mode)
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
	writeFile(path, embeddedKubeconfig("https://127.0.0.1:6443", ca.pem, cert, key), mode)
}
