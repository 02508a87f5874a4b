package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// network is what a systemd-networkd .network file says, in the subset a worker's config uses: the same file
// configures Flatcar's networkd and this image.
type network struct {
	name, mac          string
	addresses, gateway []string
	mtu                string
}

func configureNetwork(dir string) error {
	files, _ := filepath.Glob(filepath.Join(dir, "*.network"))
	sort.Strings(files)
	if err := ip("link", "set", "lo", "up"); err != nil {
		return err
	}
	for _, file := range files {
		n, err := parseNetwork(file)
		if err != nil {
			return err
		}
		link, err := waitForLink(n, 20*time.Second)
		if err != nil {
			return err
		}
		if n.mtu != "" {
			if err := ip("link", "set", link, "mtu", n.mtu); err != nil {
				return err
			}
		}
		for _, address := range n.addresses {
			if err := ip("addr", "add", address, "dev", link); err != nil {
				return err
			}
		}
		if err := ip("link", "set", link, "up"); err != nil {
			return err
		}
		for _, gateway := range n.gateway {
			if err := ip("route", "add", "default", "via", gateway, "dev", link); err != nil {
				return err
			}
		}
		logf("network: %s %v via %v", link, n.addresses, n.gateway)
	}
	return nil
}

func parseNetwork(path string) (network, error) {
	var n network
	f, err := os.Open(path)
	if err != nil {
		return n, err
	}
	defer f.Close()
	section := ""
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		key, value, _ := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch section + "." + key {
		case "Match.Name":
			n.name = value
		case "Match.MACAddress":
			n.mac = strings.ToLower(value)
		case "Network.Address", "Address.Address":
			n.addresses = append(n.addresses, value)
		case "Network.Gateway", "Route.Gateway":
			n.gateway = append(n.gateway, value)
		case "Link.MTUBytes":
			n.mtu = value
		}
	}
	if n.name == "" && n.mac == "" {
		return n, fmt.Errorf("%s: [Match] needs Name= or MACAddress=", path)
	}
	return n, scanner.Err()
}

// waitForLink finds the interface the file matches; virtio_net creates it a moment after its module loads.
func waitForLink(n network, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		links, _ := os.ReadDir("/sys/class/net")
		for _, link := range links {
			mac, _ := os.ReadFile(filepath.Join("/sys/class/net", link.Name(), "address"))
			if (n.name == "" || n.name == link.Name()) && (n.mac == "" || n.mac == strings.TrimSpace(string(mac))) {
				return link.Name(), nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("no interface matches name %q mac %q after %s", n.name, n.mac, timeout)
}

func ip(args ...string) error {
	return run(append([]string{"/bin/busybox", "ip"}, args...)...)
}

func run(argv ...string) error {
	_, done, err := spawn(argv, os.Environ())
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	if status := <-done; status.ExitStatus() != 0 {
		return fmt.Errorf("%s: exit %d", strings.Join(argv, " "), status.ExitStatus())
	}
	return nil
}
