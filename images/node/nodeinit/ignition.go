package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// The part of Ignition spec v3 a worker's config uses: filesystems (ext4, formatted at boot), files (data: URLs),
// directories and systemd units (services and mounts). The kvm-operator renders nothing else, and a config that
// asks for more (disks, links, remote sources) is refused here rather than half applied.
type ignition struct {
	Ignition struct {
		Version string `json:"version"`
	} `json:"ignition"`
	Storage struct {
		Directories []struct {
			Path string `json:"path"`
			Mode *int   `json:"mode"`
		} `json:"directories"`
		Files []struct {
			Path      string `json:"path"`
			Mode      *int   `json:"mode"`
			Overwrite *bool  `json:"overwrite"`
			Contents  struct {
				Source      *string `json:"source"`
				Compression *string `json:"compression"`
			} `json:"contents"`
		} `json:"files"`
		Disks       json.RawMessage    `json:"disks"`
		Filesystems []filesystemConfig `json:"filesystems"`
		Links       json.RawMessage    `json:"links"`
	} `json:"storage"`
	Systemd struct {
		Units []unitConfig `json:"units"`
	} `json:"systemd"`
}

type unitConfig struct {
	Name     string  `json:"name"`
	Enabled  *bool   `json:"enabled"`
	Contents *string `json:"contents"`
}

// configUnits are the config's units, kept for loadUnits once the files are written.
var configUnits []unitConfig

func applyIgnition(path, root string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("no config at %s (QEMU's -fw_cfg name=opt/org.flatcar-linux/config): %w", path, err)
	}
	var config ignition
	if err := json.Unmarshal(data, &config); err != nil {
		return err
	}
	if !strings.HasPrefix(config.Ignition.Version, "3.") {
		return fmt.Errorf("ignition version %q: only spec 3.x", config.Ignition.Version)
	}
	for _, extra := range []json.RawMessage{config.Storage.Disks, config.Storage.Links} {
		if len(extra) > 0 && string(extra) != "null" && string(extra) != "[]" {
			return fmt.Errorf("storage.disks and storage.links are not supported by this node image")
		}
	}
	if err := makeFilesystems(config.Storage.Filesystems); err != nil {
		return err
	}
	for _, dir := range config.Storage.Directories {
		if err := os.MkdirAll(filepath.Join(root, dir.Path), mode(dir.Mode, 0o755)); err != nil {
			return err
		}
	}
	for _, file := range config.Storage.Files {
		if file.Contents.Compression != nil && *file.Contents.Compression != "" {
			return fmt.Errorf("%s: compressed contents are not supported", file.Path)
		}
		content := []byte{}
		if file.Contents.Source != nil {
			if content, err = dataURL(*file.Contents.Source); err != nil {
				return fmt.Errorf("%s: %w", file.Path, err)
			}
		}
		target := filepath.Join(root, file.Path)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, content, mode(file.Mode, 0o644)); err != nil {
			return err
		}
		_ = os.Chmod(target, mode(file.Mode, 0o644))
	}
	configUnits = config.Systemd.Units
	logf("ignition: %d files, %d units applied", len(config.Storage.Files), len(config.Systemd.Units))
	return nil
}

func mode(m *int, fallback os.FileMode) os.FileMode {
	if m == nil {
		return fallback
	}
	return os.FileMode(*m) & os.ModePerm
}

// dataURL decodes an RFC 2397 data URL, the only source a VM without a network at boot can read.
func dataURL(source string) ([]byte, error) {
	rest, ok := strings.CutPrefix(source, "data:")
	if !ok {
		return nil, fmt.Errorf("source %.20q: only data: URLs", source)
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fmt.Errorf("malformed data URL")
	}
	if strings.HasSuffix(meta, ";base64") {
		return base64.StdEncoding.DecodeString(payload)
	}
	decoded, err := url.PathUnescape(payload)
	return []byte(decoded), err
}
