package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The pid file holds the process id while zkd runs and goes when it stops;
// ZOOPIDFILE and -pidfile name it.
func TestPIDFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run", "zkd.pid")
	remove, err := writePIDFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("pid file %q, %v", b, err)
	}
	remove()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("pid file left behind: %v", err)
	}
	env := map[string]string{"ZOOPIDFILE": "/var/run/zk.pid"}
	cfg, _, err := parseFlagsEnv([]string{"-data-dir", t.TempDir()}, func(k string) string { return env[k] })
	if err != nil || cfg.PIDFile != "/var/run/zk.pid" {
		t.Fatalf("ZOOPIDFILE: PIDFile=%q err=%v", cfg.PIDFile, err)
	}
	cfg, _, err = parseFlagsEnv([]string{"start-foreground", "-pidfile", "/tmp/x.pid", "-data-dir", t.TempDir()}, func(k string) string { return env[k] })
	if err != nil || cfg.PIDFile != "/tmp/x.pid" {
		t.Fatalf("-pidfile: PIDFile=%q err=%v", cfg.PIDFile, err)
	}
}
