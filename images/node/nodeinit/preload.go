package main

import (
	"os"
	"path/filepath"
	"sort"
	"time"
)

// preloadImages imports the image's container images (the sandbox image at least: no registry is reachable from
// a node here) into containerd's k8s.io namespace as soon as containerd answers — the smallest first: the sandbox
// image, which every pod needs, is the smallest, and no pod waits behind a large add-on image being imported.
func preloadImages() {
	archives, _ := filepath.Glob(filepath.Join(preloadDir, "*.tar"))
	if len(archives) == 0 {
		return
	}
	sort.SliceStable(archives, func(i, j int) bool { return size(archives[i]) < size(archives[j]) })
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat("/run/containerd/containerd.sock"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, archive := range archives {
		if err := run("/usr/local/bin/ctr", "-n", "k8s.io", "images", "import", "--local", archive); err != nil {
			logf("preload %s: %v", filepath.Base(archive), err)
		} else {
			// The archive lives in RAM (the root file system is a tmpfs) and containerd now holds the image on the
			// state disk: tens of MiB a 1 GiB worker gets back. Every boot imports afresh from a new initramfs.
			_ = os.Remove(archive)
			logf("preloaded %s", filepath.Base(archive))
		}
	}
}

func size(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}
