// FIXTURE: the test bed's oom_score_adj clamp, in K3s's payload as bin/runc (where K3s's
// release carries its own runc) and bin/containerd-shim-runc-v2 (K3s's shim, from K3s's
// containerd fork, is bin/containerd-shim-runc-v2.k3s beside it). The bed's machines run
// without CAP_SYS_RESOURCE (the CI sandbox does not have it to give), so no process there
// may lower its oom_score_adj, while containerd asks -998 for every pod sandbox; runc and
// crun then fail every pod ("can't get final child's PID from pipe: EOF").
// containerd's restrict_oom_score_adj clamps the value to the caller's own, but K3s sets it
// only inside a user namespace, which the bed's machines are not (kubelet needs the cgroup
// v1 controllers writable, which a user namespace cannot remount). So this clamps
// process.oomScoreAdj in a bundle's config.json the same way:
//   - as runc, for `create` and `run` (the bundle from --bundle), then runs Debian's runc
//     (/usr/sbin/runc) with the same arguments; everything else passes straight through;
//   - as containerd-shim-runc-v2, which containerd starts in the pod sandbox's bundle, for
//     ./config.json, then runs K3s's shim: this covers crun (the crun-wasm runtime's
//     BinaryName), which the runc name never sees.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	debianRunc = "/usr/sbin/runc"
	k3sShim    = "containerd-shim-runc-v2.k3s"
)

func main() {
	binary, err := target(os.Args[0], os.Args[1:])
	if err == nil {
		err = syscall.Exec(binary, os.Args, os.Environ())
	}
	fmt.Fprintf(os.Stderr, "%s (edgewasm test bed): %v\n", filepath.Base(os.Args[0]), err)
	os.Exit(1)
}

// target clamps what this name must clamp and says which program to run.
func target(argv0 string, args []string) (string, error) {
	if filepath.Base(argv0) == "containerd-shim-runc-v2" {
		self, err := os.Executable()
		if err != nil {
			return "", err
		}
		return filepath.Join(filepath.Dir(self), k3sShim), clampBundle(".")
	}
	if bundle, ok := runcBundle(args); ok {
		return debianRunc, clampBundle(bundle)
	}
	return debianRunc, nil
}

// runcBundle is the bundle of a runc create or run, if this is one.
func runcBundle(args []string) (string, bool) {
	command, bundle := "", "."
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--bundle" || arg == "-b":
			if i+1 < len(args) {
				bundle = args[i+1]
				i++
			}
		case strings.HasPrefix(arg, "--bundle="):
			bundle = strings.TrimPrefix(arg, "--bundle=")
		case command == "" && !strings.HasPrefix(arg, "-"):
			command = arg
		case command == "" && (arg == "--root" || arg == "--log" || arg == "--log-format" || arg == "--criu"):
			i++ // a global flag's value, not the command
		}
	}
	return bundle, command == "create" || command == "run"
}

// clampBundle raises process.oomScoreAdj in bundle/config.json to this process's own
// where it is lower (a bundle without one is left alone).
func clampBundle(bundle string) error {
	raw, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return err
	}
	own, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return err
	}
	path := filepath.Join(bundle, "config.json")
	content, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// Numbers stay as written (a memory limit must not come back as 1.34e+08).
	decoder := json.NewDecoder(bytes.NewReader(content))
	decoder.UseNumber()
	var spec map[string]any
	if err := decoder.Decode(&spec); err != nil {
		return err
	}
	process, _ := spec["process"].(map[string]any)
	if process == nil {
		return nil
	}
	adj, ok := process["oomScoreAdj"].(json.Number)
	if value, err := adj.Int64(); !ok || err != nil || value >= int64(own) {
		return nil
	}
	process["oomScoreAdj"] = own
	out, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o600)
}
