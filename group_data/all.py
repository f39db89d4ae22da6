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
