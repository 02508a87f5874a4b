package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// filesystemConfig is an Ignition storage.filesystems entry: the VM's state disk, formatted at boot.
type filesystemConfig struct {
	Device         string  `json:"device"`
	Format         *string `json:"format"`
	WipeFilesystem *bool   `json:"wipeFilesystem"`
	Label          *string `json:"label"`
}

const byID = "/dev/disk/by-id/virtio-"

// makeFilesystems formats each configured device (ext4 only) when asked to wipe it or when it holds none.
func makeFilesystems(filesystems []filesystemConfig) error {
	for _, fs := range filesystems {
		if fs.Format == nil || *fs.Format != "ext4" {
			return fmt.Errorf("%s: only ext4 filesystems are supported by this node image", fs.Device)
		}
		device, err := waitForDevice(fs.Device, 20*time.Second)
		if err != nil {
			return err
		}
		if fs.WipeFilesystem != nil && !*fs.WipeFilesystem && hasExt4(device) {
			continue
		}
		args := []string{"/sbin/mke2fs", "-t", "ext4", "-F", "-q", "-E", "lazy_itable_init=1,lazy_journal_init=1"}
		if fs.Label != nil {
			args = append(args, "-L", *fs.Label)
		}
		if err := run(append(args, device)...); err != nil {
			return err
		}
		logf("storage: %s (%s) formatted ext4", fs.Device, device)
	}
	return nil
}

// waitForDevice resolves a /dev/disk/by-id/virtio-<serial> name (no udev here: the serial is in sysfs) and waits
// for virtio_blk to create the device; the by-id link is made too, for the mount units that name it.
func waitForDevice(name string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !strings.HasPrefix(name, byID) {
			if _, err := os.Stat(name); err == nil {
				return name, nil
			}
		} else if device := deviceBySerial(strings.TrimPrefix(name, byID)); device != "" {
			_ = os.MkdirAll(filepath.Dir(name), 0o755)
			_ = os.Symlink(device, name)
			return device, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("no device %s after %s", name, timeout)
}

func deviceBySerial(serial string) string {
	blocks, _ := filepath.Glob("/sys/block/vd*")
	for _, block := range blocks {
		if value, err := os.ReadFile(filepath.Join(block, "serial")); err == nil && strings.TrimSpace(string(value)) == serial {
			return "/dev/" + filepath.Base(block)
		}
	}
	return ""
}

func hasExt4(device string) bool {
	f, err := os.Open(device)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 2)
	_, err = f.ReadAt(magic, 1024+56) // the superblock's s_magic
	return err == nil && magic[0] == 0x53 && magic[1] == 0xef
}
