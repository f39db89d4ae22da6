package main

// The server's start-up objects, and K3s's deploy controller for server/manifests.

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"time"
)

var bootstrapTemplate = template.Must(template.New("bootstrap").Parse(`{{ range .Tokens }}apiVersion: v1
kind: Secret
metadata:
  name: bootstrap-token-{{ .ID }}
  namespace: kube-system
  labels:
    edgewasm.fixture/k3s-token: {{ .Role }}
type: bootstrap.kubernetes.io/token
stringData:
  token-id: {{ .ID }}
  token-secret: {{ .Secret }}
  usage-bootstrap-authentication: "true"
  auth-extra-groups: system:bootstrappers:k3s:{{ .Role }}
---
{{ end }}apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: k3s-node-bootstrapper
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node-bootstrapper}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:bootstrappers}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: k3s-node-autoapprove-bootstrap
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:certificates.k8s.io:certificatesigningrequests:nodeclient"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:bootstrappers}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: k3s-node-autoapprove-renewal
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:nodes}
{{ range .CRDs }}---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {{ .Plural }}.{{ .Group }}
spec:
  group: {{ .Group }}
  names: {kind: {{ .Kind }}, plural: {{ .Plural }}, singular: {{ .Singular }}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
{{ end }}`))

type tokenObject struct{ ID, Secret, Role string }
type crd struct{ Group, Kind, Plural, Singular string }

// The kinds K3s registers that our deploy writes: Addon (the deploy controller's record)
// and HelmChart/HelmChartConfig (stored here; no helm-controller installs them).
var crds = []crd{
	{"k3s.cattle.io", "Addon", "addons", "addon"},
	{"helm.cattle.io", "HelmChart", "helmcharts", "helmchart"},
	{"helm.cattle.io", "HelmChartConfig", "helmchartconfigs", "helmchartconfig"},
}

func bootstrapObjects(admin, serverSecret, agentSecret string) {
	tokens := []tokenObject{}
	id, secret := bootstrapToken(serverSecret)
	tokens = append(tokens, tokenObject{id, secret, "server"})
	if agentSecret != "" && agentSecret != serverSecret {
		id, secret = bootstrapToken(agentSecret)
		tokens = append(tokens, tokenObject{id, secret, "agent"})
	}
	docs := render(bootstrapTemplate, map[string]any{"Tokens": tokens, "CRDs": crds})
	if _, err := runInput(docs, component("kubectl"), "--kubeconfig", admin, "apply", "-f", "-"); err != nil {
		fatalf("bootstrap objects: %v", err)
	}
	// A token the configuration no longer names stops working, as in K3s.
	keep := map[string]bool{}
	for _, t := range tokens {
		keep["bootstrap-token-"+t.ID] = true
	}
	out, _ := run(component("kubectl"), "--kubeconfig", admin, "-n", "kube-system", "get", "secrets",
		"-l", "edgewasm.fixture/k3s-token", "-o", "name")
	for _, name := range strings.Fields(out) {
		if !keep[strings.TrimPrefix(name, "secret/")] {
			_, _ = run(component("kubectl"), "--kubeconfig", admin, "-n", "kube-system", "delete", name)
		}
	}
}

var addonTemplate = template.Must(template.New("addon").Parse(`apiVersion: k3s.cattle.io/v1
kind: Addon
metadata:
  name: {{ .Name }}
  namespace: kube-system
spec:
  source: {{ .Source }}
  checksum: {{ .Checksum }}
`))

// deployController applies server/manifests/*.yaml at start and whenever a file's
// content changes (K3s: its deploy controller; "<file>.skip" beside a file skips it).
// A removed file deletes nothing, as in K3s.
func deployController(admin string) {
	dir := filepath.Join(dataDir, "server/manifests")
	applied := map[string]string{}
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		sort.Strings(files)
		for _, file := range files {
			ext := filepath.Ext(file)
			if ext != ".yaml" && ext != ".yml" && ext != ".json" || exists(file+".skip") {
				continue
			}
			raw, err := os.ReadFile(file)
			if err != nil {
				continue
			}
			sum := sha256.Sum256(raw)
			checksum := hex.EncodeToString(sum[:])
			if applied[file] == checksum {
				continue
			}
			if _, err := run(component("kubectl"), "--kubeconfig", admin, "apply", "-f", file); err != nil {
				logf("error", "Failed to process config: failed to process %s: %v", file, err)
				continue
			}
			name := strings.TrimSuffix(filepath.Base(file), ext)
			addon := render(addonTemplate, map[string]string{"Name": name, "Source": file, "Checksum": checksum})
			if _, err := runInput(addon, component("kubectl"), "--kubeconfig", admin, "apply", "-f", "-"); err != nil {
				logf("error", "recording addon %s: %v", name, err)
			}
			applied[file] = checksum
			logf("info", "Applied %s", file)
		}
		time.Sleep(10 * time.Second)
	}
}
