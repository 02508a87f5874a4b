package main

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

const switchedEnv = "NODEINIT_ROOT=tmpfs"

// switchRoot moves the initramfs onto a tmpfs and makes that the root, then runs /init again there. Containers
// need it: runc pivots into each container's root, and pivot_root(2) refuses the initramfs's rootfs. Files are
// moved one at a time (copied, then deleted), so memory holds the image once, not twice.
func switchRoot() error {
	for _, env := range os.Environ() {
		if env == switchedEnv {
			return nil
		}
	}
	const target = "/sysroot"
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", target, "tmpfs", 0, "mode=755"); err != nil {
		return err
	}
	entries, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	for _, entry := range entries {
		if entry.Name() == "sysroot" {
			continue
		}
		if err := move(filepath.Join("/", entry.Name()), filepath.Join(target, entry.Name())); err != nil {
			return err
		}
	}
	if err := os.Chdir(target); err != nil {
		return err
	}
	if err := syscall.Mount(".", "/", "", syscall.MS_MOVE, ""); err != nil {
		return err
	}
	if err := syscall.Chroot("."); err != nil {
		return err
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	return syscall.Exec("/init", os.Args, append(os.Environ(), switchedEnv))
}

// move copies a tree (files, directories, symlinks, with their modes) and removes the source as it goes.
func move(source, target string) error {
	err := filepath.WalkDir(source, func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		destination := filepath.Join(target, path[len(source):])
		info, err := entry.Info()
		if err != nil {
			return err
		}
		switch {
		case entry.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, destination)
		case entry.IsDir():
			return os.MkdirAll(destination, info.Mode().Perm())
		case entry.Type().IsRegular():
			if err := copyFile(path, destination, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Remove(path)
		}
		return nil // devices, sockets: the kernel's devtmpfs provides what is needed
	})
	if err != nil {
		return err
	}
	return os.RemoveAll(source)
}

func copyFile(source, target string, mode fs.FileMode) error {
	in, err := os.Open(source)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(target, mode) // beyond the umask: setuid bits, 0755 binaries
}
