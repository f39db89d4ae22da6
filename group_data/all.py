# Every edgewasm setting with its default, generated from edgewasm/settings.py
# (python -m edgewasm.settings all.py). The defaults apply without this file;
# uncomment a line here (every host), in group_data/<group>.py or in the inventory
# to change it. Every value is checked before any host is contacted.

# --- Hosts and artifacts ---
# The arch the operator expects (amd64, arm64, arm); preflight refuses a host that
# differs. Unset: taken from the host.
# edgewasm_arch = None
# Offline bundle directory on the operator's machine (docs/offline.md). Unset: hosts
# download from upstream or artifact_mirror.
# edgewasm_bundle = None
# The bundle's manifest digest, kept apart from the bundle: a bundle whose manifest was
# rewritten is refused.
# edgewasm_bundle_sha256 = None
# OpenSSH allowed_signers file of the keys trusted to sign bundles (edgewasm-bundle
# build --sign-key, edgewasm-bundle sign); a bundle whose manifest.json.sig is not by
# one of them is refused. A bundle needs this or edgewasm_bundle_sha256
# (docs/offline.md, "Trusting a bundle").
# edgewasm_bundle_signers = None
# True deploys a bundle that neither a signature nor a pinned digest vouches for, with a
# warning every run: whoever can write the bundle then controls every host. Never on a
# real fleet.
# edgewasm_bundle_unverified = False
# OS releases whose preflight_packages an offline bundle carries (.deb closure, apt-
# resolved). Raspberry Pi OS 64-bit is debian-bookworm or debian-trixie, after the
# Debian release it is built on.
# edgewasm_os_releases = ['debian-bookworm', 'debian-trixie']
# Hosts pyinfra talks to at once (connections, facts, operations) once the deploy
# starts; the bound that keeps a fleet of hundreds from opening hundreds of SSH sessions
# at once. Overrides pyinfra's --parallel.
# edgewasm_parallel_hosts = 50
# Refuse hosts whose arch upstream builds no Wasm runtimes for (armv7), instead of
# warning.
# edgewasm_require_wasm = False
# Versions that differ from the catalogue's pins, by component.
# artifact_versions = {}
# Only these catalogue components on the host. Unset: every component.
# artifact_components = None
# Internal mirror of upstream release trees: MIRROR/<upstream host>/<upstream path>.
# artifact_mirror = None

# --- WebAssembly (docs/wasm.md) ---
# Where crun and WasmEdge come from on a host whose OS release packages them with Wasm
# (edgewasm/os_releases.toml, [<release>.ships]; Debian trixie: crun 1.21
# +WASM:wasmedge, WasmEdge 0.14.1): 'distribution' takes the release's packages (from
# the bundle when offline); 'upstream' takes WasmEdge's release tarball and only the
# crun you bring. Releases that ship neither (Debian bookworm) take the upstream route
# either way.
# edgewasm_wasm_runtimes_from = 'distribution'
# The crun route: a crun >= edgewasm_crun_min_version with a +WASM: handler (Debian
# trixie's, taken from the release under edgewasm_wasm_runtimes_from = 'distribution';
# not bookworm's or Ubuntu's).
# edgewasm_crun = False
# Oldest crun the crun route accepts.
# edgewasm_crun_min_version = '1.8.5'
# The wasm-enabled crun the crun-wasm runtime runs.
# edgewasm_crun_binary = '/usr/bin/crun'
# Packages that bring that crun (judged right after their install).
# edgewasm_crun_packages = []
# Annotations containerd passes to crun for the crun-wasm runtime.
# edgewasm_wasm_pod_annotations = ['module.wasm.image/variant',
#                                  'run.oci.handler']
# The edgewasm-bench workload images, bench-wasm (WASI) and bench-native (runc baseline:
# Debian's busybox-static, docs/wasm.md), in K3s's images directory on amd64 and arm64
# hosts. Off: a measuring tool, not part of the fleet. With artifact_components set,
# list bench-wasm and bench-native there.
# edgewasm_bench_images = False
# More containerd runtimes for K3s's template (names K3s emits itself are refused).
# edgewasm_containerd_runtimes = {}

# --- K3s (docs/k3s.md) ---
# HA servers with embedded etcd: the first server initialises the cluster.
# k3s_ha = False
# Names the operator's token files (k3s_token_file, k3s_agent_token_file): a-z, 0-9 and
# '-'.
# k3s_cluster_name = 'k3s'
# The server token in data (prefer k3s_token_file: data is printed by debug-inventory).
# k3s_token = None
# The operator's 0600 server-token file (servers only); generated (or read from the
# first server) when missing.
# k3s_token_file = 'secrets/{k3s_cluster_name}.token'
# The agent token in data (prefer k3s_agent_token_file).
# k3s_agent_token = None
# The operator's 0600 agent-token file: agents join with it and never hold the server
# token.
# k3s_agent_token_file = 'secrets/{k3s_cluster_name}.agent-token'
# The node's IP address, or an IPv4 and an IPv6 one joined by ',' for dual-stack (K3s
# node-ip).
# k3s_node_ip = None
# What agents dial. Unset: the first server's k3s_node_ip, then its ssh_hostname.
# k3s_api_address = None
# Extra names in the servers' API certificate.
# k3s_tls_san = []
# K3s packaged components not to deploy.
# k3s_disable = []
# Node labels. kubernetes.io/ and k8s.io/ ones only where a kubelet may set them on its
# own node (so no node-role.kubernetes.io/); none under runtime.edgewasm.io/, which
# edgewasm sets from the runtimes the host has.
# k3s_node_labels = {}
# Node taints, key=value:Effect.
# k3s_node_taints = []
# containerd runtime for pods without a RuntimeClass. Unset: K3s's (runc).
# k3s_default_runtime = None
# Extra kubelet arguments, flag=value; not the flags edgewasm sets from its own settings
# (node-labels, register-with-taints, node-ip, hostname-override, pod-infra-container-
# image, container-runtime-endpoint, fail-swap-on, protect-kernel-defaults).
# k3s_kubelet_args = []
# containerd snapshotter (K3s snapshotter). Unset: K3s's (overlayfs), which K3s refuses
# where the data directory is itself on overlayfs (containers, some images): use native
# there.
# k3s_snapshotter = None
# flannel backend (servers; K3s flannel-backend). Unset: K3s's (vxlan); host-gw where
# all nodes share one L2 network; none with your own CNI.
# k3s_flannel_backend = None
# The interface flannel carries pod traffic on (K3s flannel-iface). Unset: the one of
# the default route; set it on nodes without one (isolated sites).
# k3s_flannel_iface = None
# The pod sandbox image (K3s pause-image). Unset: K3s's, from its airgap images.
# k3s_pause_image = None
# The image K3s's helm-controller runs HelmChart jobs in (servers; K3s helm-job-image).
# Unset: K3s's klipper-helm, from its airgap images.
# k3s_helm_job_image = None
# registries.yaml mirrors by registry; empty removes the file.
# k3s_registry_mirrors = {}
# Environment for the K3s service (a 0600 env file), e.g. proxies.
# k3s_env = {}
# More environment for the K3s service from a 0600 file on the operator's machine (proxy
# credentials): never in data, which pyinfra's debug-inventory prints.
# k3s_env_file = None
# Agents restarted at once when running nodes must restart (an upgrade, a config
# change), each batch ready before the next; servers always restart one at a time.
# Default as Kubernetes' maxUnavailable (25%, rounded down, at least 1).
# k3s_rollout_batch = '25%'
# Cordon and drain a running node (kubectl on the first server) before restarting it,
# and uncordon it once ready; a drain that fails (a PodDisruptionBudget) stops the
# rollout.
# k3s_drain = False
# Seconds a (re)started K3s may take to get ready before the host fails.
# k3s_ready_timeout = 300
# Copy the first server's kubeconfig here (0600), naming the server.
# k3s_kubeconfig_fetch = None

# --- Hardening (docs/k3s.md, "Hardening"); on by default ---
# Secrets encrypted at rest in the datastore (servers; K3s secrets-encryption, an AES-
# CBC key K3s makes and keeps). CIS 1.2.27, 1.2.28.
# k3s_secrets_encryption = True
# Pod Security level enforced in every namespace but the exempt ones (servers; an
# AdmissionConfiguration passed to kube-apiserver). baseline refuses privileged pods,
# hostPath volumes (the containerd socket) and host namespaces. CIS 5.2.1, 5.2.2.
# k3s_pod_security = 'baseline'
# Pod Security level whose violations are recorded in the audit log and returned to the
# client as warnings, without refusing the pod (servers).
# k3s_pod_security_audit = 'restricted'
# Namespaces Pod Security leaves alone (servers): K3s's own pods. gatekeeper_namespace
# is exempt too while gatekeeper_enabled.
# k3s_pod_security_exempt_namespaces = ['kube-system']
# API server audit log (servers): who did what to which object, never a request or
# response body, in /var/lib/rancher/k3s/server/logs/audit.log (directory 0700). CIS
# 1.2.16.
# k3s_audit_log = True
# Days a rotated audit log is kept (servers; audit-log-maxage). CIS 1.2.17.
# k3s_audit_log_maxage = 30
# Rotated audit logs kept (servers; audit-log-maxbackup). CIS 1.2.18.
# k3s_audit_log_maxbackup = 10
# MB an audit log grows to before it is rotated (servers; audit-log-maxsize). CIS
# 1.2.19.
# k3s_audit_log_maxsize = 100
# The kubelet refuses to start when the kernel's vm.overcommit_memory, vm.panic_on_oom,
# kernel.panic, kernel.panic_on_oops, kernel.keys.root_maxkeys or
# kernel.keys.root_maxbytes differ from its values, instead of changing them (every
# node; K3s protect-kernel-defaults); preflight sets them. CIS 4.2.6 (benchmark v1.24).
# k3s_protect_kernel_defaults = True
# Extra kube-apiserver arguments (servers; K3s kube-apiserver-arg), flag=value; not the
# ones the hardening settings set (admission-control-config-file, audit-policy-file,
# audit-log-*, encryption-provider-config*), not disabling PodSecurity, not dropping
# NodeRestriction.
# k3s_kube_apiserver_args = []
# Extra kube-controller-manager arguments (servers; K3s kube-controller-manager-arg),
# flag=value.
# k3s_kube_controller_manager_args = []

# --- Gatekeeper and image policies (docs/policies.md); one value per cluster ---
# Gatekeeper and the image policies on the cluster's servers.
# gatekeeper_enabled = True
# Namespace Gatekeeper runs in.
# gatekeeper_namespace = 'gatekeeper-system'
# Controller replicas: 1 fits a 2 GB Raspberry Pi beside K3s; upstream's 3 do not.
# gatekeeper_replicas = 1
# CPU request of the controller and audit pods.
# gatekeeper_cpu_request = '50m'
# Memory request of the controller and audit pods.
# gatekeeper_memory_request = '128Mi'
# Memory limit of the controller and audit pods.
# gatekeeper_memory_limit = '384Mi'
# Fail: while Gatekeeper is down nothing outside the exempt namespaces is admitted;
# Ignore (upstream's): admitted unchecked.
# gatekeeper_failure_policy = 'Fail'
# Seconds the API server waits for the webhook (Kubernetes allows 1-30).
# gatekeeper_webhook_timeout = 3
# Seconds between audits of existing objects.
# gatekeeper_audit_interval = 300
# Never checked (and labelled so the webhook is not even called): the cluster's own
# pods.
# gatekeeper_exempt_namespaces = ['kube-system',
#                                 'kube-public',
#                                 'kube-node-lease']
# Trusted registry hosts ('registry.example', 'registry.example:5000', 'localhost') or
# repositories ('ghcr.io/acme/app', 'docker.io/edgewasm/'), matched at their own
# boundary. Empty: Gatekeeper is refused until you name them.
# policy_allowed_repos = []
# Image tags refused everywhere the policies apply.
# policy_disallowed_tags = ['latest']
# Namespaces the policies apply to; [] means every namespace but the exempt ones.
# policy_namespaces = []

# --- Preflight ---
# Oldest kernel accepted (Ubuntu 20.04 ships 5.4; Pi OS bookworm 6.1+).
# preflight_min_kernel = '5.4'
# Free GiB needed where /var/lib/rancher lives (binary, images, containerd state).
# preflight_min_disk_gb = 4
# os-release ID -> oldest VERSION_ID.
# preflight_supported_os = {'debian': '11', 'ubuntu': '20.04', 'raspbian': '11'}
# What K3s needs from the distribution beside its own binary (xz-utils: Wasmtime is a
# .tar.xz), and sudo (the nightly check user's one sudo rule, check_access_key).
# preflight_packages = ['ca-certificates',
#                       'iptables',
#                       'conntrack',
#                       'socat',
#                       'xz-utils',
#                       'sudo']
# Refresh apt lists before installing when older than this (0: never).
# preflight_apt_cache_time = 86400
# Kernel modules loaded now and at every boot.
# preflight_kernel_modules = ['overlay', 'br_netfilter']
# sysctls set now and at every boot.
# preflight_sysctls = {'net.ipv4.ip_forward': 1,
#                      'net.bridge.bridge-nf-call-iptables': 1,
#                      'net.bridge.bridge-nf-call-ip6tables': 1}
# keep: the kubelet runs with fail-swap-on=false; disable: swapoff, fstab lines
# commented, dphys-swapfile stopped.
# preflight_swap = 'keep'
# Appended once to a Raspberry Pi's boot line; the Pi is then rebooted.
# preflight_pi_cgroup_flags = ['cgroup_memory=1', 'cgroup_enable=memory']
# Seconds a rebooted host may take to come back.
# preflight_reboot_timeout = 600

# --- Nightly compliance check, on a management host (edgewasm/compliance/nightly.py, docs/compliance.md) ---
# The fleet inventory the management host checks every night; copied to
# ~check_user/inventories/.
# check_inventory = None
# The SSH key edgewasm-check uses, installed as ~check_user/.ssh/id_edgewasm (0600, that
# user's only); the fleet inventory's ssh_key should say ~/.ssh/id_edgewasm.
# check_ssh_key = None
# Installed as ~check_user/.ssh/known_hosts; the fleet inventory's ssh_known_hosts_file
# should say ~/.ssh/known_hosts.
# check_known_hosts = None
# The fleet's bundle, copied to the same path under ~check_user (the checks read its
# manifest). Unset: the fleet deploys from upstream.
# check_bundle = None
# Wheels of edgewasm-check's dependencies. Unset: downloaded once on the operator's
# machine (pip, at the versions it runs) into ~/.cache/edgewasm/check/wheelhouse.
# check_wheelhouse = None
# Distribution packages edgewasm-check needs; from the management host's edgewasm_bundle
# when set, else from its apt sources.
# check_packages = ['python3', 'python3-venv']
# The unprivileged system user the check runs as; it holds only the key and known_hosts.
# check_user = 'edgewasm-check'
# When the check runs (systemd timer OnCalendar=).
# check_schedule = '*-*-* 03:00:00'
# Random delay added to each run (RandomizedDelaySec=), so management hosts do not all
# start at once.
# check_randomized_delay = '30min'
# Where the check writes its metrics for node_exporter's textfile collector.
# check_textfile_dir = '/var/lib/prometheus/node-exporter'
# Runs of reports kept.
# check_keep = 30
# Hosts checked at once.
# check_parallel = 16

# --- The nightly check's access to each fleet host (deploys/check_access.py, docs/compliance.md "Least privilege") ---
# Installs the check user on every host: that key, restricted (no pty, no forwarding)
# and accepted only from check_access_from; sudo for the read helper alone; on servers a
# read-mostly kubeconfig. Unset: no check user (the check then needs root's key).
# check_access_key = None
# Where the check key is accepted from (authorized_keys from=); required with
# check_access_key.
# check_access_from = []
# The check's user on each fleet host (not root); the nightly fleet inventory connects
# as it (ssh_user).
# check_access_user = 'edgewasm-check'
