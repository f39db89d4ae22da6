# Defaults for every host. Override per group (group_data/<group>.py) or per host
# (inventory host data). Every key is checked before any host is contacted:
# see edgewasm/config.py SETTINGS.

# Oldest kernel preflight accepts (Ubuntu 20.04 ships 5.4; Pi OS bookworm 6.1+).
preflight_min_kernel = "5.4"
# Free space needed where /var/lib/rancher lives (binary, images, containerd state).
preflight_min_disk_gb = 4
# os-release ID -> oldest VERSION_ID.
preflight_supported_os = {"debian": "11", "ubuntu": "20.04", "raspbian": "11"}
# What K3s needs from the distribution beside its own binary (xz-utils: the Wasmtime
# release is a .tar.xz).
preflight_packages = ["ca-certificates", "iptables", "conntrack", "socat", "xz-utils"]
# Refresh apt lists before installing when older than this many seconds (0: never;
# an offline site with a local mirror may want that).
preflight_apt_cache_time = 86400
preflight_kernel_modules = ["overlay", "br_netfilter"]
preflight_sysctls = {
    "net.ipv4.ip_forward": 1,
    "net.bridge.bridge-nf-call-iptables": 1,
    "net.bridge.bridge-nf-call-ip6tables": 1,
}
# "keep": K3s runs the kubelet with fail-swap-on=false. "disable": swapoff, fstab swap
# lines commented out, dphys-swapfile (Raspberry Pi OS) stopped and disabled.
preflight_swap = "keep"
# Appended once to a Raspberry Pi's boot line; the host is then rebooted.
preflight_pi_cgroup_flags = ["cgroup_memory=1", "cgroup_enable=memory"]
preflight_reboot_timeout = 600

# --- WebAssembly (docs/wasm.md) ---
# The crun route: needs a crun >= edgewasm_crun_min_version with a +WASM: handler (not
# Debian's or Ubuntu's crun). edgewasm_crun_binary / edgewasm_crun_packages say where
# it comes from.
edgewasm_crun = False
edgewasm_crun_min_version = "1.8.5"
edgewasm_crun_binary = "/usr/bin/crun"
edgewasm_crun_packages = []
# Annotations containerd passes to crun for the crun-wasm runtime.
edgewasm_wasm_pod_annotations = ["module.wasm.image/variant", "run.oci.handler"]

# --- Gatekeeper and image policies (docs/policies.md); one value per cluster ---
gatekeeper_enabled = True
gatekeeper_namespace = "gatekeeper-system"
# 1 replica, 128Mi requested / 384Mi limit per pod (controller and audit) fits a 2 GB
# Raspberry Pi beside K3s; upstream's 3 x 512Mi does not.
gatekeeper_replicas = 1
gatekeeper_cpu_request = "50m"
gatekeeper_memory_request = "128Mi"
gatekeeper_memory_limit = "384Mi"
# "Fail": while Gatekeeper is down no pod outside the exempt namespaces is admitted
# (nothing unchecked gets in). "Ignore" (upstream's default): pods are admitted unchecked.
gatekeeper_failure_policy = "Fail"
gatekeeper_webhook_timeout = 3
gatekeeper_audit_interval = 300
# Never checked (and labelled so the webhook is not even called): the cluster's own pods.
gatekeeper_exempt_namespaces = ["kube-system", "kube-public", "kube-node-lease"]
# Trusted registries or repository prefixes. "yourhub" trusts yourhub/..., yourhub:5000/...
# and yourhub@sha256:..., never yourhub-evil/...
policy_allowed_repos = ["docker.io/edgewasm/"]
policy_disallowed_tags = ["latest"]
# Namespaces the policies apply to; [] means every namespace but the exempt ones.
policy_namespaces = []
