// Command nodeinit is PID 1 of a guest worker VM (kvm-operator): it mounts the kernel's file systems, loads the
// modules the image lists, sets the sysctls a node needs (IP forwarding, bridge netfilter), applies the Ignition
// config QEMU hands in (fw_cfg, where Flatcar reads it too), brings up the network from the config's
// systemd-networkd file, preloads the image's container images into containerd, runs the config's enabled systemd
// units (containerd, kubelet) under supervision, reaps orphans, and on the ACPI power button (QEMU's
// system_powerdown) stops the units and powers the VM off.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

const (
	// Where QEMU's -fw_cfg name=opt/org.flatcar-linux/config puts the config: Flatcar's own name for it.
	ignitionConfig = "/sys/firmware/qemu_fw_cfg/by_name/opt/org.flatcar-linux/config/raw"
	modulesList    = "/etc/kubeception/modules"
	preloadDir     = "/usr/lib/kubeception/images" // not under /var/lib: the state disk is mounted there
	preloadWait    = 3 * time.Minute               // the most the kubelet waits for the preloaded images
	stopTimeout    = 20 * time.Second
	sysFinitModule = 313 // finit_module(2) on x86_64; the syscall package does not name it
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "nodeinit: "+format+"\n", args...)
}

func main() {
	go reapForever()
	if err := boot(); err != nil {
		logf("boot failed: %v", err)
		poweroff()
	}
	units, err := loadUnits()
	if err != nil {
		logf("units: %v", err)
		poweroff()
	}
	supervisor := newSupervisor(units)
	// The kubelet starts once the preloaded images are in containerd: a pod it starts before (kube-proxy, CoreDNS)
	// would find its image missing, try a registry no node reaches, and back off for minutes. A Ready Node can run
	// its add-ons at once.
	preloaded := make(chan struct{})
	supervisor.gate("kubelet.service", preloaded, preloadWait)
	go func() {
		preloadImages()
		close(preloaded)
	}()
	supervisor.start()
	logf("up: %d units running", len(units))
	waitForShutdown()
	logf("power button: stopping units")
	supervisor.stop(stopTimeout)
	poweroff()
}

func boot() error {
	if err := switchRoot(); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	for _, m := range []struct{ source, target, fstype, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", ""},
		{"devpts", "/dev/pts", "devpts", "gid=5,mode=620,ptmxmode=666"},
		{"tmpfs", "/dev/shm", "tmpfs", "mode=1777"},
		{"tmpfs", "/run", "tmpfs", "mode=755"},
		{"tmpfs", "/tmp", "tmpfs", "mode=1777"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", ""},
	} {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount(m.source, m.target, m.fstype, 0, m.data); err != nil {
			return fmt.Errorf("mount %s: %w", m.target, err)
		}
	}
	if err := loadModules(); err != nil {
		return err
	}
	if err := applySysctls("/proc/sys"); err != nil {
		return err
	}
	// cgroup v2: hand the controllers kubelet and runc need to the children of the root.
	_ = os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+cpu +cpuset +io +memory +pids"), 0o644)
	if err := applyIgnition(ignitionConfig, "/"); err != nil {
		return fmt.Errorf("ignition: %w", err)
	}
	if name, err := os.ReadFile("/etc/hostname"); err == nil {
		_ = syscall.Sethostname([]byte(strings.TrimSpace(string(name))))
	}
	// busybox's applets (mount, umount, sh...) for what the kubelet and the CNI plugins run by name.
	for _, dir := range []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin"} {
		_ = os.MkdirAll(dir, 0o755)
	}
	if err := run("/bin/busybox", "--install", "-s"); err != nil {
		return err
	}
	ensureFile("/etc/resolv.conf", "")
	ensureFile("/etc/machine-id", machineID())
	return configureNetwork("/etc/systemd/network")
}

func loadModules() error {
	data, err := os.ReadFile(modulesList)
	if err != nil {
		return err
	}
	noParams := []byte{0} // finit_module wants a parameter string, even an empty one
	for _, path := range strings.Fields(string(data)) {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, _, errno := syscall.Syscall(sysFinitModule, f.Fd(), uintptr(unsafe.Pointer(&noParams[0])), 0)
		f.Close()
		if errno != 0 && errno != syscall.EEXIST {
			return fmt.Errorf("load %s: %w", filepath.Base(path), errno)
		}
	}
	return nil
}

func ensureFile(path, content string) {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		_ = os.WriteFile(path, []byte(content), 0o644)
	}
}

func machineID() string {
	data, err := os.ReadFile("/proc/sys/kernel/random/uuid")
	if err != nil {
		return ""
	}
	return strings.ReplaceAll(strings.TrimSpace(string(data)), "-", "") + "\n"
}

// waitForShutdown returns on the ACPI power button (an input event) or SIGTERM/SIGINT.
func waitForShutdown() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	power := make(chan struct{}, 1)
	go watchPowerButton(power)
	select {
	case <-power:
	case <-signals:
	}
}

func poweroff() {
	syscall.Sync()
	_ = syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
