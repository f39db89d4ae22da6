package main

import "text/template"

// baseV2 is what {{ template "base" . }} expands to for containerd 1.x: the shape of
// K3s's own base (pkg/agent/templates), with the runtimes found on PATH.
const baseV2 = `# FIXTURE base of the K3s stand-in (K3s's shape; K3s's own differs in detail)
version = 2
root = "{{ .Root }}"
state = "{{ .State }}"

[grpc]
  address = "{{ .Socket }}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{{ .Root }}"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "10010"
  enable_selinux = false
  enable_unprivileged_ports = {{ .EnableUnprivileged }}
  enable_unprivileged_icmp = {{ .EnableUnprivileged }}
  restrict_oom_score_adj = {{ .RestrictOOMScoreAdj }}
  sandbox_image = "{{ .PauseImage }}"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "{{ .Snapshotter }}"
  disable_snapshot_annotations = true
{{- if .DefaultRuntime }}
  default_runtime_name = "{{ .DefaultRuntime }}"
{{- end }}

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{{ .CNIBinDir }}"
  conf_dir = "{{ .CNIConfDir }}"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = {{ .SystemdCgroup }}

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/var/lib/rancher/k3s/agent/etc/containerd/certs.d"
{{ range $name, $rt := .ExtraRuntimes }}
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes."{{ $name }}"]
  runtime_type = "{{ $rt.RuntimeType }}"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes."{{ $name }}".options]
  BinaryName = "{{ $rt.BinaryName }}"
  SystemdCgroup = {{ $.SystemdCgroup }}
{{ end }}`

// baseV3 is the same for containerd 2.x (config version 3).
const baseV3 = `# FIXTURE base of the K3s stand-in (K3s's shape; K3s's own differs in detail)
version = 3
root = "{{ .Root }}"
state = "{{ .State }}"

[grpc]
  address = "{{ .Socket }}"

[plugins.'io.containerd.internal.v1.opt']
  path = "{{ .Root }}"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "10010"

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  restrict_oom_score_adj = {{ .RestrictOOMScoreAdj }}
  enable_unprivileged_ports = {{ .EnableUnprivileged }}
  enable_unprivileged_icmp = {{ .EnableUnprivileged }}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "{{ .Snapshotter }}"
  disable_snapshot_annotations = true

# Imports unpack into the snapshotter the node uses (containerd's default: overlayfs),
# Wasm images (platform wasip1/wasm) too, which the Wasm shims run.
[[plugins.'io.containerd.transfer.v1.local'.unpack_config]]
  platform = "{{ .Platform }}"
  snapshotter = "{{ .Snapshotter }}"
[[plugins.'io.containerd.transfer.v1.local'.unpack_config]]
  platform = "wasip1/wasm"
  snapshotter = "{{ .Snapshotter }}"
  differ = "walking"  # no differ declares that platform; a layer is a tar either way

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "{{ .PauseImage }}"

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["{{ .CNIBinDir }}"]
  conf_dir = "{{ .CNIConfDir }}"

[plugins.'io.containerd.cri.v1.runtime'.containerd]
{{- if .DefaultRuntime }}
  default_runtime_name = "{{ .DefaultRuntime }}"
{{- end }}

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = {{ .SystemdCgroup }}
{{ range $name, $rt := .ExtraRuntimes }}
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'{{ $name }}']
  runtime_type = "{{ $rt.RuntimeType }}"
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'{{ $name }}'.options]
  BinaryName = "{{ $rt.BinaryName }}"
  SystemdCgroup = {{ $.SystemdCgroup }}
{{ end }}`

var kubeletTemplate = template.Must(template.New("kubelet.conf.yaml").Parse(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {{ .CA }}
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
clusterDNS:
- {{ .DNS }}
clusterDomain: cluster.local
containerRuntimeEndpoint: unix://{{ .Socket }}
failSwapOn: false
readOnlyPort: 0
resolvConf: {{ .ResolvConf }}
rotateCertificates: true
serializeImagePulls: false
staticPodPath: {{ .StaticPods }}
evictionHard:
  imagefs.available: "1%"
  nodefs.available: "1%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`))

var cniTemplate = template.Must(template.New("cni").Parse(`{
  "cniVersion": "1.0.0",
  "name": "edgewasm-bridge-{{ .ID }}",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "{{ .Subnet }}"}]]}},
    {"type": "loopback"}
  ]
}
`))
