// FIXTURE: the light K3s stand-in, for test-bed machines where real K3s cannot run: the
// arm64 Pi under qemu-user (runc cannot make a container there) and the big light fleets
// (docs/testbed.md). It is NOT K3s and says so in `k3s --version`. It reads
// /etc/rancher/k3s/config.yaml (+ config.yaml.d/*.yaml) and K3S_URL/K3S_TOKEN as K3s does,
// refusing a key K3s does not know, or a server-only key on an agent, naming it; a light
// server makes a CA, the token in K3s's K10<ca hash>::server:<secret> format and the
// admin kubeconfig, and answers K3s's join check (/v1-k3s/readyz with basic auth
// node:<secret> or server:<secret>); a joining node checks its token there, against a
// light server or real K3s alike, and a wrong token, a missing server URL or an
// unreachable server fail as K3s fails. It runs no Kubernetes at all: no API server, no
// kubelet, no containerd, so `k3s kubectl` and `k3s ctr` fail here, saying so. Machines
// that run pods run real K3s (tests/k3s).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// The K3s release this binary stands in for (-X main.release=v1.36.4+k3s1).
var release = "v0.0.0+unset"

const (
	commit         = "f1x7ure0"
	dataDir        = "/var/lib/rancher/k3s"
	configFile     = "/etc/rancher/k3s/config.yaml"
	kubeconfigFile = "/etc/rancher/k3s/k3s.yaml"
)

// Config keys K3s takes on both roles, and on servers only. An unlisted key is skipped
// with a warning on a server and refused on an agent (loadConfig), as by K3s.
var agentKeys = set("server", "token", "token-file", "node-name", "node-ip", "node-external-ip",
	"node-label", "node-taint", "default-runtime", "kubelet-arg", "kube-proxy-arg", "snapshotter",
	"data-dir", "private-registry", "pause-image", "selinux", "protect-kernel-defaults", "resolv-conf",
	"container-runtime-endpoint", "debug", "v", "log", "alsologtostderr", "with-node-id",
	"disable-default-registry-endpoint", "lb-server-port", "prefer-bundled-bin", "image-credential-provider-bin-dir",
	"image-credential-provider-config", "vpn-auth", "vpn-auth-file", "flannel-iface", "airgap-extra-registry",
	"nonroot-devices", "disable-apiserver-lb")
var serverKeys = set("cluster-init", "agent-token", "agent-token-file", "write-kubeconfig",
	"write-kubeconfig-mode", "write-kubeconfig-group", "tls-san", "tls-san-security", "disable", "bind-address",
	"advertise-address", "advertise-port", "https-listen-port", "cluster-cidr", "service-cidr", "cluster-dns",
	"cluster-domain", "service-node-port-range", "kube-apiserver-arg", "kube-controller-manager-arg",
	"kube-scheduler-arg", "kube-cloud-controller-manager-arg", "etcd-arg", "disable-agent", "flannel-backend",
	"flannel-ipv6-masq", "flannel-external-ip", "disable-network-policy", "disable-kube-proxy",
	"disable-helm-controller", "disable-cloud-controller", "disable-scheduler", "disable-controller-manager",
	"disable-etcd", "disable-apiserver", "secrets-encryption", "embedded-registry", "datastore-endpoint",
	"egress-selector-mode", "supervisor-metrics", "etcd-expose-metrics", "system-default-registry",
	"cluster-reset", "etcd-disable-snapshots", "etcd-snapshot-schedule-cron", "etcd-snapshot-retention",
	"kine-tls", "helm-job-image", "node-name-from-hostname", "default-local-storage-path")

func set(items ...string) map[string]bool {
	m := map[string]bool{}
	for _, i := range items {
		m[i] = true
	}
	return m
}

func logf(level, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "level=%s msg=%q\n", level, fmt.Sprintf(format, args...))
}

func fatalf(format string, args ...any) {
	logf("fatal", format, args...)
	os.Exit(1)
}

// Config is config.yaml after K3s's merge: later files win for scalars, lists append
// when the key ends in "+" (K3s's own rule), a bare key replaces.
type Config map[string]any

func (c Config) str(key string) string {
	switch v := c[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func (c Config) list(key string) []string {
	switch v := c[key].(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, item := range v {
			out = append(out, fmt.Sprint(item))
		}
		return out
	case nil:
		return nil
	default:
		// K3s takes a comma-separated string where a list is expected.
		return strings.Split(fmt.Sprint(v), ",")
	}
}

func (c Config) flag(key string) bool {
	v, _ := c[key].(bool)
	return v || c.str(key) == "true"
}

func loadConfig(role string) Config {
	files := []string{}
	if _, err := os.Stat(configFile); err == nil {
		files = append(files, configFile)
	}
	dropIns, _ := filepath.Glob(configFile + ".d/*.yaml")
	sort.Strings(dropIns)
	config := Config{}
	for _, path := range append(files, dropIns...) {
		raw, err := os.ReadFile(path)
		if err != nil {
			fatalf("failed to read config file %s: %v", path, err)
		}
		doc := map[string]any{}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			fatalf("failed to parse config file %s: %v", path, err)
		}
		for key, value := range doc {
			name := strings.TrimSuffix(key, "+")
			if !agentKeys[name] && !(role == "server" && serverKeys[name]) {
				// K3s turns each key into a flag of its command. For `server` its
				// configfilearg strips the unknown ones with a warning; `agent` has no
				// such list, and urfave/cli refuses the flag (both seen on real K3s).
				if role == "server" {
					logf("warning", "Unknown flag --%s found in config.yaml, skipping", name)
					continue
				}
				fmt.Fprintf(os.Stderr, "Incorrect Usage: flag provided but not defined: -%s\n", name)
				fatalf("Error: flag provided but not defined: -%s", name)
			}
			if strings.HasSuffix(key, "+") {
				if old, ok := config[name].([]any); ok {
					if more, ok := value.([]any); ok {
						value = append(old, more...)
					}
				}
			}
			config[name] = value
		}
	}
	if config.str("server") == "" && os.Getenv("K3S_URL") != "" {
		config["server"] = os.Getenv("K3S_URL")
	}
	return config
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "FIXTURE k3s stand-in: --version, server and agent exist here")
		os.Exit(1)
	}
	switch args[0] {
	case "--version", "-v", "version":
		what := "FIXTURE light stand-in: no Kubernetes components on this machine, no Kubernetes API"
		fmt.Printf("k3s version %s (%s)\ngo version %s (%s)\n", release, commit, runtime.Version(), what)
	case "kubectl", "ctr":
		fatalf("FIXTURE k3s stand-in: no %s here: the light stand-in runs no Kubernetes and no containerd", args[0])
	case "server":
		runServer(loadConfig("server"))
	case "agent":
		runAgent(loadConfig("agent"))
	default:
		fmt.Fprintf(os.Stderr, "FIXTURE k3s stand-in: no command %q here (--version, server, agent)\n", args[0])
		os.Exit(1)
	}
}
