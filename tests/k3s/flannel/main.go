// FIXTURE: the test bed's stand-in for flannel's CNI plugin (flannel-io/cni-plugin), the
// "flannel" binary K3s's releases ship beside containerd. Real K3s runs flannel in-process
// (which writes /run/flannel/subnet.env) and points containerd at a conflist whose first
// plugin is {"type": "flannel", "delegate": {...}}; that plugin is not obtainable as a Go
// module here, so this program of ours does its documented job: read the subnet file, turn
// the netconf's delegate into a bridge (by default) conf with host-local IPAM over this
// node's subnet, save it under dataDir/<containerID> so DEL and CHECK use the conf ADD used
// even after the subnet file changes, and invoke the delegate from CNI_PATH.
//
// It lacks: Windows (flannel's plugin delegates to win-bridge/win-overlay there); the
// upstream plugin's passing of runtimeConfig to the delegate. IPv4, IPv6 and dual stack
// are handled as subnet.env describes them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

type netConf struct {
	types.PluginConf
	SubnetFile string         `json:"subnetFile"`
	DataDir    string         `json:"dataDir"`
	Delegate   map[string]any `json:"delegate"`
	IPAM       map[string]any `json:"ipam"` // shadows PluginConf's typed IPAM: user keys pass through
}

func loadConf(stdin []byte) (*netConf, error) {
	n := &netConf{SubnetFile: "/run/flannel/subnet.env", DataDir: "/var/lib/cni/flannel"}
	if err := json.Unmarshal(stdin, n); err != nil {
		return nil, fmt.Errorf("flannel: parsing netconf: %w", err)
	}
	if n.Delegate == nil {
		n.Delegate = map[string]any{}
	}
	if n.CNIVersion == "" {
		n.CNIVersion = "0.1.0" // the CNI spec's meaning of a conf without cniVersion
	}
	return n, nil
}

// subnetEnv is subnet.env: the cluster networks (routed via the node's bridge) and this
// node's subnets (whose first address is the bridge's, host-local hands out the rest).
type subnetEnv struct {
	networks, subnets []string
	mtu               int
	ipMasq            bool
}

func loadSubnetEnv(path string) (*subnetEnv, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("flannel: loading subnet file: %w (flannel has not started on this node?)", err)
	}
	env, seen := &subnetEnv{}, map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		seen[key] = true
		bad := func(err error) error {
			return fmt.Errorf("flannel: %s line %d: bad %s %q: %v", path, i+1, key, value, err)
		}
		switch key {
		case "FLANNEL_NETWORK", "FLANNEL_IPV6_NETWORK": // flannel may list several networks
			for _, cidr := range strings.Split(value, ",") {
				_, nw, err := net.ParseCIDR(cidr)
				if err != nil {
					return nil, bad(err)
				}
				env.networks = append(env.networks, nw.String())
			}
		case "FLANNEL_SUBNET", "FLANNEL_IPV6_SUBNET":
			// flannel writes the subnet's first address (10.42.7.1/24); host-local wants the subnet.
			_, sn, err := net.ParseCIDR(value)
			if err != nil {
				return nil, bad(err)
			}
			env.subnets = append(env.subnets, sn.String())
		case "FLANNEL_MTU":
			if env.mtu, err = strconv.Atoi(value); err != nil || env.mtu <= 0 {
				return nil, bad(fmt.Errorf("not a positive integer"))
			}
		case "FLANNEL_IPMASQ":
			if env.ipMasq, err = strconv.ParseBool(value); err != nil {
				return nil, bad(err)
			}
		}
	}
	// As flannel's plugin does, refuse a partial file rather than guess a node's network.
	for _, key := range []string{"FLANNEL_MTU", "FLANNEL_IPMASQ"} {
		if !seen[key] {
			return nil, fmt.Errorf("flannel: %s has no %s", path, key)
		}
	}
	if len(env.subnets) == 0 || len(env.networks) == 0 {
		return nil, fmt.Errorf("flannel: %s has no FLANNEL_SUBNET/FLANNEL_NETWORK (nor their IPV6 forms)", path)
	}
	return env, nil
}

func cmdAdd(args *skel.CmdArgs) error {
	n, err := loadConf(args.StdinData)
	if err != nil {
		return err
	}
	env, err := loadSubnetEnv(n.SubnetFile)
	if err != nil {
		return err
	}
	d := n.Delegate // the user's delegate keys (K3s: hairpinMode, forceAddress, isDefaultGateway) win
	setDefault := func(key string, value any) {
		if _, ok := d[key]; !ok {
			d[key] = value
		}
	}
	setDefault("type", "bridge")
	setDefault("ipMasq", !env.ipMasq) // flannel masquerades traffic leaving the cluster itself when true
	setDefault("mtu", env.mtu)
	if d["type"] == "bridge" {
		setDefault("isGateway", true) // the bridge takes the subnet's first address: pods' gateway
	}
	d["name"], d["cniVersion"] = n.Name, n.CNIVersion

	ipam := n.IPAM // user ipam keys (e.g. host-local's dataDir) pass through; ranges are flannel's
	if ipam == nil {
		ipam = map[string]any{}
	}
	if _, ok := ipam["type"]; !ok {
		ipam["type"] = "host-local"
	}
	var ranges [][]map[string]string
	for _, sn := range env.subnets {
		ranges = append(ranges, []map[string]string{{"subnet": sn}})
	}
	routes, _ := ipam["routes"].([]any)
	for _, nw := range env.networks {
		routes = append(routes, map[string]string{"dst": nw})
	}
	ipam["ranges"], ipam["routes"] = ranges, routes
	d["ipam"] = ipam

	conf, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
		return err
	}
	// Saved before the delegate runs: after a failed ADD the runtime's DEL cleans up with it.
	if err := os.WriteFile(filepath.Join(n.DataDir, args.ContainerID), conf, 0o600); err != nil {
		return err
	}
	result, err := invoke.DelegateAdd(context.TODO(), d["type"].(string), conf, nil)
	if err != nil {
		return err
	}
	return types.PrintResult(result, n.CNIVersion)
}

// savedConf is the delegate conf ADD saved for this container, and its plugin type.
func savedConf(args *skel.CmdArgs) (n *netConf, path string, conf map[string]any, err error) {
	if n, err = loadConf(args.StdinData); err != nil {
		return
	}
	path = filepath.Join(n.DataDir, args.ContainerID)
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &conf)
	}
	if err == nil && conf["type"] == nil {
		err = fmt.Errorf("flannel: %s has no delegate type", path)
	}
	return
}

func cmdDel(args *skel.CmdArgs) error {
	_, path, conf, err := savedConf(args)
	if errors.Is(err, os.ErrNotExist) {
		return nil // never added, or already deleted: DEL must be idempotent
	} else if err != nil {
		return err
	}
	data, _ := json.Marshal(conf)
	if err := invoke.DelegateDel(context.TODO(), conf["type"].(string), data, nil); err != nil {
		return err // keep the conf: the runtime retries DEL
	}
	return os.Remove(path)
}

func cmdCheck(args *skel.CmdArgs) error {
	n, _, conf, err := savedConf(args)
	if err != nil {
		return err
	}
	conf["prevResult"] = n.RawPrevResult // the delegate checks the container against it
	data, _ := json.Marshal(conf)
	return invoke.DelegateCheck(context.TODO(), conf["type"].(string), data, nil)
}

func main() {
	// Up to 1.0.0, the version K3s's conflist uses: GC and STATUS (1.1.0) are not ours to do.
	skel.PluginMainFuncs(skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck},
		version.PluginSupports("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"),
		"edgewasm FIXTURE flannel CNI plugin (stands in for flannel-io/cni-plugin)")
}
