package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"zkd/zoocfg"
)

// writeDockerConfig does the rest of what the official ZooKeeper image's
// docker-entrypoint.sh does before the server starts, for a configuration made
// from the ZOO_* variables (zoocfg.LoadDockerEnv; cfg.ConfigText is the file it
// generated): it writes $ZOO_CONF_DIR/zoo.cfg when that file does not exist, and
// <dataDir>/myid (ZOO_MY_ID, default 1) when that does not exist, so the next
// start, and an operator looking in /conf, find the configuration in use. zkd's
// image has no shell to run a script, so zkd does it itself.
//
// Only where the image's directories are: a directory that does not exist is
// not created (a bare zkd with a ZOO_* variable set on a workstation writes
// nothing), but one that exists and cannot be written to fails the start, as
// the script's `set -e` does.
//
// Reference: docker-library/zookeeper, docker-entrypoint.sh (3.8).
func writeDockerConfig(cfg zoocfg.Config, getenv func(string) string, log *slog.Logger) error {
	confDir := getenv("ZOO_CONF_DIR")
	if confDir == "" {
		confDir = "/conf"
	}
	if isDir(confDir) {
		path := filepath.Join(confDir, "zoo.cfg")
		written, err := writeIfAbsent(path, cfg.ConfigText)
		if err != nil {
			return fmt.Errorf("docker entrypoint: %w", err)
		}
		if written {
			log.Info("wrote the configuration from the ZOO_* environment", "file", path)
		}
	}
	if isDir(cfg.DataDir) {
		myID := strings.TrimSpace(getenv("ZOO_MY_ID"))
		if myID == "" {
			myID = "1"
		}
		if _, err := writeIfAbsent(filepath.Join(cfg.DataDir, "myid"), myID+"\n"); err != nil {
			return fmt.Errorf("docker entrypoint: %w", err)
		}
	}
	return nil
}

// writeIfAbsent creates path with text unless it exists; written says whether it did.
func writeIfAbsent(path, text string) (written bool, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
