// Command coredns is the cluster DNS of the local mother and of every guest cluster: CoreDNS with the plugins
// kubeadm's Corefile uses (errors, health, ready, kubernetes, prometheus, forward, cache, loop, reload,
// loadbalance) and log. One binary, one image (ghcr.io/kubeception/coredns). What a server forwards is its
// Corefile's choice: the local mother's (tools/testenv addons/cluster-dns.yaml) names no forward, so no query
// leaves this machine; a guest's forwards to its node's resolvers, the DNS servers the cluster declares.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func init() {
	// The order plugins run in, as CoreDNS's plugin.cfg has them (a Corefile's order does not matter).
	dnsserver.Directives = []string{
		"reload", "ready", "health", "prometheus", "errors", "log", "loadbalance", "cache", "kubernetes", "loop",
		"forward",
	}
}

func main() { coremain.Run() }
