// FIXTURE: the runc of the test bed's K3s payload (bin/runc, where K3s's release carries
// its own runc): Debian's runc (/usr/sbin/runc), with one change the test bed needs. The
// bed's machines run without CAP_SYS_RESOURCE (the CI sandbox does not have it to give),
// so no process there may lower its oom_score_adj, while containerd asks -998 for every
// pod sandbox; runc then fails every pod ("can't get final child's PID from pipe: EOF").
// containerd's restrict_oom_score_adj clamps the value to the caller's own, but K3s sets it
// only inside a user namespace, which the bed's machines are not (kubelet needs the cgroup
// v1 controllers writable, which a user namespace cannot remount). So for `create` and
// `run`, this clamps process.oomScoreAdj in the bundle's config.json the same way, then
// runs Debian's runc with the same arguments. Everything else passes straight through.
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

const debianRunc = "/usr/sbin/runc"

func main() {
	if err := clamp(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "runc (edgewasm test bed): %v\n", err)
		os.Exit(1)
	}
	if err := syscall.Exec(debianRunc, append([]string{"runc"}, os.Args[1:]...), os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runc (edgewasm test bed): exec %s: %v\n", debianRunc, err)
		os.Exit(1)
	}
}

// clamp raises process.oomScoreAdj to this process's own where it is lower.
func clamp(args []string) error {
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
	if command != "create" && command != "run" {
		return nil
	}
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
