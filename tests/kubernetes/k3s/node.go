package main

// A node: containerd (config.toml from the operator's template over our base), the
// images directory imported, a CNI bridge for its pods, and kubelet.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"text/template"
	"time"
)

var (
	agentDir     = filepath.Join(dataDir, "agent")
	containerdCf = filepath.Join(agentDir, "etc/containerd")
	imagesDir    = filepath.Join(agentDir, "images")
	cniConfDir   = filepath.Join(agentDir, "etc/cni/net.d")
	cniBinDir    = "/usr/lib/cni" // Debian's containernetworking-plugins (K3s: its own, under data/)
	pauseImage   = "edgewasm.invalid/fixture/pause:3.10"
)

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

// runNode joins the cluster at server with token, as an agent (or a joining server).
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
	writeFile(bootstrap, renderKubeconfig("https://"+host, filepath.Join(agentDir, "server-ca.crt"), "", id+"."+secret), 0o600)
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
	sup := newSupervisor()
	logf("info", "Connecting to proxy url=\"wss://%s/v1-k3s/connect\"", host)
	if !realNode() {
		sup.ready()
		select {}
	}
	startNode(sup, c, nodeName(c), nodeIP(c), bootstrap)
	sup.ready()
	sup.wait()
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

func startNode(sup *supervisor, c Config, name, ip, bootstrap string) {
	// As K3s puts its own bin directory first: containerd finds its runc shim there.
	os.Setenv("PATH", components+":"+os.Getenv("PATH"))
	for _, dir := range []string{containerdCf, imagesDir, cniConfDir, filepath.Join(agentDir, "pod-manifests"),
		filepath.Join(agentDir, "containerd"), "/run/k3s/containerd"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fatalf("mkdir %s: %v", dir, err)
		}
	}
	// Decided once: the overlay probe mounts, and config and imports must agree.
	snap := snapshotter(c)
	config := containerdConfig(c, snap)
	writeFile(filepath.Join(containerdCf, "config.toml"), []byte(config), 0o600)
	sup.start("containerd", containerdBinary(), "--config", filepath.Join(containerdCf, "config.toml"))
	until("containerd", 60*time.Second, sup, func() bool {
		_, err := run(component("ctr"), "--address", containerdSock, "version")
		return err == nil
	})
	importImages(snap)
	writeCNIConfig(ip)
	kubeletConfig := filepath.Join(agentDir, "etc/kubelet.conf.yaml")
	writeFile(kubeletConfig, []byte(render(kubeletTemplate, map[string]string{
		"CA": filepath.Join(agentDir, "server-ca.crt"), "Socket": containerdSock, "DNS": clusterDNS,
		"StaticPods": filepath.Join(agentDir, "pod-manifests"), "ResolvConf": resolvConf(),
	})), 0o600)
	kubeconfig := filepath.Join(agentDir, "kubelet.kubeconfig")
	args := []string{"--config", kubeletConfig, "--kubeconfig", kubeconfig, "--hostname-override", name,
		"--node-ip", ip, "--cert-dir", filepath.Join(agentDir, "pki")}
	if bootstrap != "" {
		args = append(args, "--bootstrap-kubeconfig", bootstrap)
	}
	if labels := c.list("node-label"); len(labels) > 0 {
		args = append(args, "--node-labels", strings.Join(labels, ","))
	}
	if taints := c.list("node-taint"); len(taints) > 0 {
		args = append(args, "--register-with-taints", strings.Join(taints, ","))
	}
	sup.start("kubelet", component("kubelet"), append(args, flags(c.list("kubelet-arg"))...)...)
	// K3s merges node-label into an existing node's labels at every start (kubelet applies
	// them only when it registers the node); it never removes one.
	go labelNode(kubeconfig, name, c.list("node-label"), bootstrap == "")
}

// standsInFor is the Node annotation saying which K3s release this node stands in for:
// its kubelet reports its own (upstream) version, and checks compare this with the pin.
const standsInFor = "fixture.edgewasm.io/stands-in-for-k3s"

func labelNode(kubeconfig, name string, labels []string, server bool) {
	if server {
		labels = append(labels, "node-role.kubernetes.io/control-plane=true", "node-role.kubernetes.io/master=true")
		kubeconfig = filepath.Join(credDir, "admin.kubeconfig")
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if exists(kubeconfig) {
			_, err := run(component("kubectl"), "--kubeconfig", kubeconfig, "annotate", "node", name, "--overwrite",
				standsInFor+"="+release)
			if err == nil && len(labels) > 0 {
				args := append([]string{"--kubeconfig", kubeconfig, "label", "node", name, "--overwrite"}, labels...)
				_, err = run(component("kubectl"), args...)
			}
			if err == nil {
				return
			}
		}
		time.Sleep(2 * time.Second)
	}
	logf("error", "could not label node %s with %v", name, labels)
}

// containerdBinary: containerd 2.3 as K3s carries it, from the components directory
// (its shims too: they are found on PATH, which leads with that directory).
func containerdBinary() string { return component("containerd") }

// containerdGeneration: 3 for containerd 2.x (config-v3.toml.tmpl), else 2.
func containerdGeneration() int {
	out, err := run(containerdBinary(), "--version")
	if err != nil {
		fatalf("containerd --version: %v", err)
	}
	fields := strings.Fields(out)
	if len(fields) >= 3 && strings.HasPrefix(strings.TrimPrefix(fields[2], "v"), "2.") {
		return 3
	}
	return 2
}

func snapshotter(c Config) string {
	if s := c.str("snapshotter"); s != "" && s != "overlayfs" {
		return s
	}
	root := filepath.Join(agentDir, "containerd")
	if err := overlaySupported(root); err != nil {
		logf("warning", "Failed to set snapshotter overlayfs, falling back to native: %v", err)
		return "native"
	}
	return "overlayfs"
}

// overlaySupported mounts an overlay in root, as containerd's overlayfs snapshotter would.
func overlaySupported(root string) error {
	dir, err := os.MkdirTemp(root, "overlay-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, sub := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", dir, dir, dir)
	if err := syscall.Mount("overlay", filepath.Join(dir, "merged"), "overlay", 0, opts); err != nil {
		return err
	}
	return syscall.Unmount(filepath.Join(dir, "merged"), 0)
}

type runtimeEntry struct{ RuntimeType, BinaryName string }

// detectRuntimes finds on PATH what K3s's runtime detection finds (pkg/agent/containerd/runtimes.go).
func detectRuntimes() map[string]runtimeEntry {
	candidates := []struct{ name, binary, runtimeType string }{
		{"crun", "crun", "io.containerd.runc.v2"},
		{"lunatic", "containerd-shim-lunatic-v1", "io.containerd.lunatic.v1"},
		{"slight", "containerd-shim-slight-v1", "io.containerd.slight.v1"},
		{"spin", "containerd-shim-spin-v2", "io.containerd.spin.v2"},
		{"wws", "containerd-shim-wws-v1", "io.containerd.wws.v1"},
		{"wasmedge", "containerd-shim-wasmedge-v1", "io.containerd.wasmedge.v1"},
		{"wasmer", "containerd-shim-wasmer-v1", "io.containerd.wasmer.v1"},
		{"wasmtime", "containerd-shim-wasmtime-v1", "io.containerd.wasmtime.v1"},
	}
	found := map[string]runtimeEntry{}
	for _, cand := range candidates {
		if path, err := exec.LookPath(cand.binary); err == nil {
			found[cand.name] = runtimeEntry{cand.runtimeType, path}
		}
	}
	return found
}

// restrictOOMScoreAdj: a node whose root cannot lower oom_score_adj (no CAP_SYS_RESOURCE,
// as in a container) must tell containerd so, or every container start fails.
func restrictOOMScoreAdj() bool {
	raw, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return true
	}
	var current int
	fmt.Sscan(strings.TrimSpace(string(raw)), &current)
	if current <= -1000 {
		return false
	}
	err = os.WriteFile("/proc/self/oom_score_adj", []byte(fmt.Sprint(current-1)), 0)
	if err != nil {
		return true
	}
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte(fmt.Sprint(current)), 0)
	return false
}

type templateData struct {
	SystemdCgroup       bool
	IsRunningInUserNS   bool
	EnableUnprivileged  bool
	RestrictOOMScoreAdj bool
	Program             string
	Root, State         string
	Socket              string
	PauseImage          string
	Snapshotter         string
	DefaultRuntime      string
	CNIBinDir           string
	CNIConfDir          string
	ExtraRuntimes       map[string]runtimeEntry
	Platform            string
}

func containerdConfig(c Config, snap string) string {
	generation := containerdGeneration()
	pause := pauseImage
	if c.str("pause-image") != "" {
		pause = c.str("pause-image")
	}
	data := templateData{
		SystemdCgroup: false, EnableUnprivileged: true, RestrictOOMScoreAdj: restrictOOMScoreAdj(), Program: "k3s",
		Root: filepath.Join(agentDir, "containerd"), State: "/run/k3s/containerd", Socket: containerdSock,
		PauseImage: pause, Snapshotter: snap, DefaultRuntime: c.str("default-runtime"),
		CNIBinDir: cniBinDir, CNIConfDir: cniConfDir, ExtraRuntimes: detectRuntimes(),
		Platform: "linux/" + runtime.GOARCH,
	}
	base := baseV2
	userTemplate := filepath.Join(containerdCf, "config.toml.tmpl")
	if generation == 3 {
		base, userTemplate = baseV3, filepath.Join(containerdCf, "config-v3.toml.tmpl")
	}
	text := `{{ template "base" . }}`
	if raw, err := os.ReadFile(userTemplate); err == nil {
		text = string(raw)
		logf("info", "Using containerd template at %s", userTemplate)
	}
	t, err := template.New("compiled_template").Parse(`{{ define "base" }}` + base + `{{ end }}` + "\n" + text)
	if err != nil {
		fatalf("failed to parse containerd config template %s: %v", userTemplate, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		fatalf("failed to render containerd config template %s: %v", userTemplate, err)
	}
	return b.String()
}

// importImages imports every tarball in the images directory, as K3s does at start.
func importImages(snapshotter string) {
	files, _ := filepath.Glob(filepath.Join(imagesDir, "*"))
	sort.Strings(files)
	for _, file := range files {
		if !strings.HasSuffix(file, ".tar") && !strings.HasSuffix(file, ".tar.zst") {
			continue
		}
		if isZstd(file) {
			logf("warning", "FIXTURE: %s is zstd-compressed; this stand-in imports plain tarballs only", file)
			continue
		}
		start := time.Now()
		// Every platform's content, unpacked for the node's; then unpacked for wasip1/wasm
		// as well (hello-wasm's platform, which no node's default matches). A tarball with
		// no Wasm image fails that second pass, which is no error.
		if _, err := run(component("ctr"), "--address", containerdSock, "-n", "k8s.io", "images", "import",
			"--all-platforms", "--snapshotter", snapshotter, file); err != nil {
			logf("error", "Unable to import %s: %v", file, err)
			continue
		}
		_, _ = run(component("ctr"), "--address", containerdSock, "-n", "k8s.io", "images", "import",
			"--platform", "wasip1/wasm", "--snapshotter", snapshotter, file)
		logf("info", "Imported images from %s in %s", file, time.Since(start).Round(time.Millisecond))
	}
}

func isZstd(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, _ = f.Read(magic)
	return string(magic) == "\x28\xb5\x2f\xfd"
}

// writeCNIConfig: a bridge for this node's pods (K3s runs flannel; pods on different
// nodes cannot reach each other here). The subnet follows the node's IP.
func writeCNIConfig(ip string) {
	sum := sha256.Sum256([]byte(ip))
	octet := int(sum[0])
	if parts := strings.Split(ip, "."); len(parts) == 4 {
		fmt.Sscan(parts[3], &octet)
	}
	writeFile(filepath.Join(cniConfDir, "10-edgewasm-bridge.conflist"), []byte(render(cniTemplate, map[string]string{
		"Subnet": fmt.Sprintf("10.42.%d.0/24", octet%256), "ID": hex.EncodeToString(sum[:4]),
	})), 0o644)
}

func resolvConf() string {
	path := filepath.Join(agentDir, "etc/resolv.conf")
	writeFile(path, []byte("# FIXTURE: no cluster DNS on the test bed\n"), 0o644)
	return path
}

func render(t *template.Template, data any) string {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		fatalf("render %s: %v", t.Name(), err)
	}
	return b.String()
}
