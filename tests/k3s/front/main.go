// FIXTURE: the front of the test bed's K3s release binary, standing in for K3s's own
// ./cmd/k3s, which carries its payload in K3s's pkg/data embed directory: a build from
// K3s's Go module cannot put one there (the module cache is read-only, and Go refuses
// overlays beneath it). It does that front's documented job with K3s's own packages:
//   - the payload (a zstd tarball: bin/k3s = K3s's ./cmd/server, its names, the runc shim
//     and CNI plugins; tests/fixtures/k3s_build.py) is unpacked once per content into
//     <data-dir>/data/<sha256>/, verified against its .sha256sums and .links (K3s's
//     dataverify), under K3s's lock, with the data/current and data/previous links;
//   - the data dir comes from K3S_DATA_DIR, --data-dir/-d, then the config file (K3s's
//     configfilearg), else /var/lib/rancher/k3s;
//   - bin/ goes first on PATH, bin/aux last, and kubectl, crictl and ctr run from bin/
//     whether named as a subcommand (`k3s kubectl ...`) or through a link (/usr/local/bin/kubectl);
//     everything else (server, agent, token, --help, ...) runs bin/k3s with the same
//     arguments; --version is answered without unpacking, as upstream's front does;
//   - on `k3s server`, the packaged manifests it carries (manifests/: the RBAC of K3s's own
//     users) are staged into <data-dir>/server/manifests, as K3s stages its own.
//
// What it lacks: prefer-bundled-bin, the stable data/cni directory (no multi-call cni
// plugin here), the home data dir of rootless K3s.
package main

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/k3s-io/k3s/pkg/configfilearg"
	"github.com/k3s-io/k3s/pkg/dataverify"
	"github.com/k3s-io/k3s/pkg/flock"
	"github.com/k3s-io/k3s/pkg/untar"
	"github.com/k3s-io/k3s/pkg/version"
)

//go:embed data/*
var payload embed.FS

// What K3s's release stages into server/manifests at every server start and a build from
// its Go module lacks: the RBAC of K3s's own users (manifests/k3s-rbac.yaml says what).
//
//go:embed manifests/*.yaml
var packaged embed.FS

const defaultDataDir = "/var/lib/rancher/k3s"

var externalCLIs = []string{"kubectl", "crictl", "ctr"}

func main() {
	// As upstream's front: the version without unpacking anything (the checks ask it of
	// a binary that may not have run yet).
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-v") {
		fmt.Printf("%s version %s (%s)\ngo version %s\n", version.Program, version.Version, version.GitCommit, runtime.Version())
		return
	}
	dataDir := findDataDir(os.Args[1:])
	dir, err := extract(dataDir)
	if err != nil {
		fatal("extracting data: %v", err)
	}
	os.Setenv("PATH", strings.Join([]string{filepath.Join(dir, "bin"), os.Getenv("PATH"), filepath.Join(dir, "bin", "aux")}, ":"))
	name, args := "k3s", os.Args[1:]
	if base := filepath.Base(os.Args[0]); slices.Contains(externalCLIs, base) {
		name = base
	} else if len(args) > 0 && slices.Contains(externalCLIs, args[0]) {
		name, args = args[0], args[1:]
	}
	if name == "k3s" && len(args) > 0 && args[0] == "server" {
		if err := stage(dataDir); err != nil {
			fatal("staging manifests: %v", err)
		}
	}
	if name == "crictl" && os.Getenv("CRI_CONFIG_FILE") == "" {
		os.Setenv("CRI_CONFIG_FILE", filepath.Join(dataDir, "agent", "etc", "crictl.yaml"))
	}
	bin := filepath.Join(dir, "bin", name)
	if err := syscall.Exec(bin, append([]string{name}, args...), os.Environ()); err != nil {
		fatal("exec %s: %v", bin, err)
	}
}

// stage writes the packaged manifests where K3s's deploy controller applies them, as
// K3s's own staging does at each start (a removed file comes back, an edited one is reset).
func stage(dataDir string) error {
	dir := filepath.Join(dataDir, "server", "manifests")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	entries, err := fs.ReadDir(packaged, "manifests")
	if err != nil {
		return err
	}
	for _, e := range entries {
		content, err := packaged.ReadFile("manifests/" + e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "edgewasm-fixture-"+e.Name()), content, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "k3s: "+format+"\n", args...)
	os.Exit(1)
}

func findDataDir(args []string) string {
	if dir := os.Getenv("K3S_DATA_DIR"); dir != "" {
		return dir
	}
	for i, arg := range args {
		if v, ok := strings.CutPrefix(arg, "--data-dir="); ok {
			return v
		}
		if (arg == "--data-dir" || arg == "-d") && i+1 < len(args) {
			return args[i+1]
		}
	}
	// The parser answers a --help or --version flag with the flag itself.
	dir := configfilearg.MustFindString(append([]string{"k3s"}, args...), "data-dir", externalCLIs...)
	if dir != "" && !strings.HasPrefix(dir, "-") {
		return dir
	}
	return defaultDataDir
}

// asset is the payload's file name: <sha256>.tar.zst, the name of its data directory.
func asset() (string, []byte, error) {
	entries, err := fs.ReadDir(payload, "data")
	if err != nil {
		return "", nil, err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			content, err := payload.ReadFile("data/" + e.Name())
			return e.Name(), content, err
		}
	}
	return "", nil, fmt.Errorf("this binary carries no payload")
}

func extract(dataDir string) (string, error) {
	name, content, err := asset()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(dataDir, "data", strings.SplitN(name, ".", 2)[0])
	if _, err := os.Stat(filepath.Join(dir, "bin", "k3s")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "data"), 0o755); err != nil {
		return "", err
	}
	lock, err := flock.Acquire(filepath.Join(dataDir, "data", ".lock"))
	if err != nil {
		return "", err
	}
	defer flock.Release(lock)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil // another start unpacked it while this one waited for the lock
	}
	tmp := dir + "-tmp"
	os.RemoveAll(tmp)
	defer os.RemoveAll(tmp)
	if err := untar.Untar(bytes.NewReader(content), tmp); err != nil {
		return "", err
	}
	if err := dataverify.Verify(filepath.Join(tmp, "bin")); err != nil {
		return "", err
	}
	current, previous := filepath.Join(dataDir, "data", "current"), filepath.Join(dataDir, "data", "previous")
	if _, err := os.Lstat(current); err == nil {
		if err := os.Rename(current, previous); err != nil {
			return "", err
		}
	}
	if err := os.Symlink(dir, current); err != nil {
		return "", err
	}
	// Renamed last: bin/k3s exists only once everything else is in place.
	return dir, os.Rename(tmp, dir)
}
