package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// nodeSysctls are kernel settings every Kubernetes node needs, whatever its boot configuration says: pods' and
// Services' traffic is routed through the node (flannel does not turn forwarding on; kubeadm's preflight checks
// it), and traffic between pods on the node's bridge crosses the IP hooks where kube-proxy's and
// kube-network-policies' rules are (br_netfilter's default, set anyway: a module option could change it).
var nodeSysctls = []struct{ key, value string }{
	{"net/ipv4/ip_forward", "1"},
	{"net/bridge/bridge-nf-call-iptables", "1"},
	{"net/bridge/bridge-nf-call-ip6tables", "1"},
}

// applySysctls writes nodeSysctls under root (/proc/sys), after the modules are loaded (br_netfilter's keys
// exist only then).
func applySysctls(root string) error {
	for _, s := range nodeSysctls {
		if err := os.WriteFile(filepath.Join(root, s.key), []byte(s.value+"\n"), 0o644); err != nil {
			return fmt.Errorf("sysctl %s: %w", s.key, err)
		}
	}
	return nil
}
