// FIXTURE: stands in for rancher/klipper-helm, the image K3s's helm-controller
// (github.com/k3s-io/helm-controller v0.16.17, pkg/controllers/chart/chart.go) runs as the
// Job that installs, upgrades or uninstalls each HelmChart, and that cannot be obtained
// here. It keeps that image's contract: the Job's arguments (`install` with helm's
// --namespace, --create-namespace, --take-ownership, --version, --set and --set-string, or
// `delete`), its environment (NAME, CHART, TARGET_NAMESPACE, HELM_DRIVER, TIMEOUT,
// FAILURE_POLICY, ...), the chart's content in /chart/$NAME.tgz.base64 and the values files
// in /config; it does the work with helm's Go SDK where klipper-helm runs its entry script
// and the helm CLI.
//
// It lacks what an offline site cannot use: charts from a repository or a URL (REPO, an
// http(s) CHART, K3s's %{KUBERNETES_API}% static charts, and with them /auth, /ca-files,
// INSECURE_SKIP_TLS_VERIFY, PLAIN_HTTP and AUTH_PASS_CREDENTIALS) are refused with an
// error; helm's mapkubeapis plugin is not run before upgrades; Helm v2 is refused as
// klipper-helm refuses it. FAILURE_POLICY is reinstall or abort, the two v0.16.17 allows.
//
// One action is not klipper-helm's: `template` renders the chart without a cluster (helm
// install --dry-run, client only) and prints the manifests, so that the reading of
// arguments, environment, chart and values can be tested anywhere.
package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

type request struct {
	action, name, namespace, chart, failurePolicy string
	createNamespace, takeOwnership                bool
	timeout                                       time.Duration
	values                                        values.Options
}

// stringList collects a repeated flag (--set, --set-string) in order.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func parse(args []string) (*request, error) {
	if len(args) == 0 {
		return nil, errors.New("usage: installer install|delete|template [--namespace NS] [--create-namespace] [--take-ownership] [--version V] [--set K=V]... [--set-string K=V]...")
	}
	r := &request{action: args[0], name: os.Getenv("NAME"), namespace: os.Getenv("TARGET_NAMESPACE"),
		chart: os.Getenv("CHART"), failurePolicy: envOr("FAILURE_POLICY", "reinstall"), timeout: 5 * time.Minute}
	flags := flag.NewFlagSet(r.action, flag.ContinueOnError)
	flags.SetOutput(io.Discard) // the error says it; the usage has no descriptions to show
	flags.StringVar(&r.namespace, "namespace", r.namespace, "")
	flags.BoolVar(&r.createNamespace, "create-namespace", false, "")
	flags.BoolVar(&r.takeOwnership, "take-ownership", false, "")
	// A chart file's version is its own: helm ignores --version for one, and so do we.
	flags.String("version", os.Getenv("VERSION"), "")
	flags.Var((*stringList)(&r.values.Values), "set", "")
	flags.Var((*stringList)(&r.values.StringValues), "set-string", "")
	if err := flags.Parse(args[1:]); err != nil {
		return nil, err
	}
	switch {
	case r.action != "install" && r.action != "delete" && r.action != "template":
		return nil, fmt.Errorf("unknown action %q: install, delete or template", r.action)
	case flags.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %q", flags.Args())
	case r.name == "":
		return nil, errors.New("NAME (the HelmChart's name, the release's) is not set")
	case os.Getenv("HELM_VERSION") == "v2":
		return nil, errors.New("Helm v2 is not supported: upgrade the chart to Helm v3")
	}
	if t := os.Getenv("TIMEOUT"); t != "" {
		var err error
		if r.timeout, err = time.ParseDuration(t); err != nil {
			return nil, fmt.Errorf("TIMEOUT %q: %w", t, err)
		}
	}
	// chart.go projects the HelmChart's values, then its HelmChartConfig's, as
	// values-<0|1>-<NNN>-*.yaml: their names sort in the order they override each other.
	files, _ := filepath.Glob(filepath.Join(envOr("VALUES_DIR", "/config"), "*.yaml"))
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), ".") {
			r.values.ValueFiles = append(r.values.ValueFiles, f)
		}
	}
	return r, nil
}

// loadChart reads the chart that spec.chartContent put, base64, in the ConfigMap mounted
// at /chart (it wins over CHART, as in klipper-helm), or else the chart file CHART names.
func loadChart(r *request) (*chart.Chart, error) {
	encoded := filepath.Join(envOr("CONTENT_DIR", "/chart"), r.name+".tgz.base64")
	text, err := os.ReadFile(encoded)
	switch {
	case err == nil:
		tgz, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(text)), ""))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", encoded, err)
		}
		log.Printf("chart: %s (%d bytes)", encoded, len(tgz))
		return loader.LoadArchive(bytes.NewReader(tgz))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case os.Getenv("REPO") != "" || strings.Contains(r.chart, "://"):
		return nil, fmt.Errorf("chart %q (repo %q) would be downloaded: this installer takes only spec.chartContent or a chart file in its image (the site is offline)", r.chart, os.Getenv("REPO"))
	case r.chart == "":
		return nil, fmt.Errorf("no chart: neither %s nor CHART", encoded)
	}
	log.Printf("chart: %s", r.chart)
	return loader.Load(r.chart)
}

func main() {
	log.SetOutput(os.Stdout)
	// Interrupted, helm leaves the release pending and later operations refused;
	// klipper-helm ignores these signals too and lets the Job's deadline end it.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	if err := run(os.Args[1:]); err != nil {
		log.Printf("error: %v", err)
		// Kubernetes shows this file's content as the container's termination message.
		if f, ferr := os.OpenFile("/dev/termination-log", os.O_WRONLY|os.O_APPEND, 0); ferr == nil {
			fmt.Fprintln(f, err)
			f.Close()
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	r, err := parse(args)
	if err != nil {
		return err
	}
	// The Job runs as a user with no home on a read-only root: helm's and client-go's
	// caches and configuration go to the emptyDirs chart.go mounts under /home/klipper-helm.
	home := os.Getenv("HOME")
	if home == "" || home == "/" {
		home = "/home/klipper-helm"
	}
	for name, dir := range map[string]string{"HELM_CACHE_HOME": ".cache/helm", "HELM_CONFIG_HOME": ".config/helm",
		"HELM_DATA_HOME": ".helm", "KUBECACHEDIR": ".cache/kube"} {
		if os.Getenv(name) == "" {
			os.Setenv(name, filepath.Join(home, dir))
		}
	}
	settings := cli.New() // kubeconfig from $KUBECONFIG, else the service account's in-cluster config
	if r.namespace == "" {
		r.namespace = settings.Namespace()
	}
	log.Printf("%s release %s in namespace %s (failure policy %s)", r.action, r.name, r.namespace, r.failurePolicy)
	cfg := new(action.Configuration)
	if err := cfg.Init(settings.RESTClientGetter(), r.namespace, os.Getenv("HELM_DRIVER"), log.Printf); err != nil {
		return err
	}
	if r.action == "delete" {
		return remove(cfg, r)
	}
	ch, err := loadChart(r)
	if err != nil {
		return err
	}
	if err := action.CheckDependencies(ch, ch.Metadata.Dependencies); err != nil {
		return err
	}
	vals, err := r.values.MergeValues(getter.Providers{}) // files in order, then --set, then --set-string
	if err != nil {
		return err
	}
	log.Printf("chart %s %s, values from %d files and %d --set", ch.Name(), ch.Metadata.Version,
		len(r.values.ValueFiles), len(r.values.Values)+len(r.values.StringValues))
	if r.action == "template" {
		in := newInstall(cfg, r)
		in.DryRun, in.ClientOnly, in.Replace, in.IncludeCRDs = true, true, true, true
		rel, err := in.Run(ch, vals)
		if err != nil {
			return err
		}
		fmt.Print(rel.Manifest)
		return nil
	}
	return install(cfg, r, ch, vals)
}

func newInstall(cfg *action.Configuration, r *request) *action.Install {
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.Timeout = r.name, r.namespace, r.timeout
	in.CreateNamespace, in.TakeOwnership = r.createNamespace, r.takeOwnership
	return in
}

// current is the release's latest revision, nil when there is none.
func current(cfg *action.Configuration, r *request) (*release.Release, error) {
	if err := cfg.KubeClient.IsReachable(); err != nil {
		return nil, err
	}
	rel, err := cfg.Releases.Last(r.name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err == nil {
		log.Printf("release %s is at revision %d, %s", r.name, rel.Version, rel.Info.Status)
	}
	return rel, err
}

func install(cfg *action.Configuration, r *request, ch *chart.Chart, vals map[string]any) error {
	rel, err := current(cfg, r)
	if err != nil {
		return err
	}
	status := release.StatusUnknown
	if rel != nil {
		status = rel.Info.Status
	}
	// A Job killed mid-operation leaves the release pending, which helm then refuses to
	// touch: mark it failed (klipper-helm's `helm set-status`), retry an interrupted upgrade
	// and treat anything else as the failed release it is.
	if rel != nil && (status.IsPending() || status == release.StatusSuperseded || status == release.StatusUninstalling) {
		rel.Info.Status = release.StatusFailed
		if err := cfg.Releases.Update(rel); err != nil {
			return err
		}
		if status != release.StatusPendingUpgrade && status != release.StatusSuperseded {
			status = release.StatusFailed
		}
	}
	switch {
	case rel == nil:
	case status == release.StatusDeployed || status == release.StatusPendingUpgrade || status == release.StatusSuperseded:
		up := action.NewUpgrade(cfg)
		up.Namespace, up.Timeout, up.TakeOwnership = r.namespace, r.timeout, r.takeOwnership
		done, err := up.Run(r.name, ch, vals)
		if err != nil {
			return fmt.Errorf("upgrade: %w", err)
		}
		log.Printf("upgraded %s to revision %d: %s", r.name, done.Version, done.Info.Status)
		return nil
	case r.failurePolicy == "abort":
		return fmt.Errorf("release %s is %s and FAILURE_POLICY is abort: waiting for an operator", r.name, status)
	case r.failurePolicy == "reinstall":
		log.Printf("release %s is %s: uninstalling it to install it again", r.name, status)
		if err := uninstall(cfg, r); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown FAILURE_POLICY %q: reinstall or abort", r.failurePolicy)
	}
	done, err := newInstall(cfg, r).Run(ch, vals)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	log.Printf("installed %s revision %d: %s", r.name, done.Version, done.Info.Status)
	return nil
}

func uninstall(cfg *action.Configuration, r *request) error {
	un := action.NewUninstall(cfg)
	un.Wait, un.Timeout = true, r.timeout
	_, err := un.Run(r.name)
	return err
}

func remove(cfg *action.Configuration, r *request) error {
	rel, err := current(cfg, r)
	if err != nil || rel == nil {
		if err == nil {
			log.Printf("release %s is not installed: nothing to delete", r.name)
		}
		return err
	}
	// klipper-helm ignores a failed uninstall (`|| true`) so that the HelmChart can still be
	// deleted: its finalizer waits for this Job to succeed.
	if err := uninstall(cfg, r); err != nil {
		log.Printf("uninstall %s failed (ignored, as klipper-helm does): %v", r.name, err)
		return nil
	}
	log.Printf("uninstalled %s", r.name)
	return nil
}
