package main

import (
	"os"
	"path/filepath"
	"strings"
)

// The official ZooKeeper Docker image (docker.io/library/zookeeper) is configured
// with environment variables that its docker-entrypoint.sh turns into
// $ZOO_CONF_DIR/zoo.cfg when that file does not exist. zkd started without a
// config file does the same, so the image's compose files and Kubernetes manifests
// work unchanged.

// dockerEnvVars are the variables of the official image that configure the server.
var dockerEnvVars = []string{
	"ZOO_MY_ID", "ZOO_SERVERS", "ZOO_TICK_TIME", "ZOO_INIT_LIMIT", "ZOO_SYNC_LIMIT",
	"ZOO_MAX_CLIENT_CNXNS", "ZOO_STANDALONE_ENABLED", "ZOO_ADMINSERVER_ENABLED",
	"ZOO_AUTOPURGE_PURGEINTERVAL", "ZOO_AUTOPURGE_SNAPRETAINCOUNT", "ZOO_4LW_COMMANDS_WHITELIST",
	"ZOO_DATA_DIR", "ZOO_DATA_LOG_DIR", "ZOO_CFG_EXTRA", "ZOO_CONF_DIR",
}

// dockerDefaults are the image's ENV defaults (its Dockerfile).
var dockerDefaults = map[string]string{
	"ZOO_CONF_DIR":                  "/conf",
	"ZOO_DATA_DIR":                  "/data",
	"ZOO_DATA_LOG_DIR":              "/datalog",
	"ZOO_TICK_TIME":                 "2000",
	"ZOO_INIT_LIMIT":                "5",
	"ZOO_SYNC_LIMIT":                "2",
	"ZOO_AUTOPURGE_PURGEINTERVAL":   "0",
	"ZOO_AUTOPURGE_SNAPRETAINCOUNT": "3",
	"ZOO_MAX_CLIENT_CNXNS":          "60",
	"ZOO_STANDALONE_ENABLED":        "true",
	"ZOO_ADMINSERVER_ENABLED":       "true",
	"ZOO_SERVERS":                   "server.1=localhost:2888:3888;2181",
}

// dockerConfig returns the configuration the official image would run with: the
// path of an existing $ZOO_CONF_DIR/zoo.cfg, or else the text its entrypoint would
// write there. ok is false when none of the image's variables is set, so a bare
// zkd on a workstation keeps its loopback defaults.
func dockerConfig(getenv func(string) string) (path, text string, ok bool) {
	for _, k := range dockerEnvVars {
		if getenv(k) != "" {
			ok = true
		}
	}
	if !ok {
		return "", "", false
	}
	env := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return dockerDefaults[k]
	}
	if p := filepath.Join(env("ZOO_CONF_DIR"), "zoo.cfg"); fileExists(p) {
		return p, "", true
	}
	// Reference: docker-library/zookeeper, docker-entrypoint.sh.
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	line("dataDir=" + env("ZOO_DATA_DIR"))
	line("dataLogDir=" + env("ZOO_DATA_LOG_DIR"))
	line("tickTime=" + env("ZOO_TICK_TIME"))
	line("initLimit=" + env("ZOO_INIT_LIMIT"))
	line("syncLimit=" + env("ZOO_SYNC_LIMIT"))
	line("autopurge.snapRetainCount=" + env("ZOO_AUTOPURGE_SNAPRETAINCOUNT"))
	line("autopurge.purgeInterval=" + env("ZOO_AUTOPURGE_PURGEINTERVAL"))
	line("maxClientCnxns=" + env("ZOO_MAX_CLIENT_CNXNS"))
	line("standaloneEnabled=" + env("ZOO_STANDALONE_ENABLED"))
	line("admin.enableServer=" + env("ZOO_ADMINSERVER_ENABLED"))
	for _, server := range strings.Fields(env("ZOO_SERVERS")) {
		line(server)
	}
	if w := getenv("ZOO_4LW_COMMANDS_WHITELIST"); w != "" {
		line("4lw.commands.whitelist=" + w)
	}
	for _, extra := range strings.Fields(getenv("ZOO_CFG_EXTRA")) {
		line(extra)
	}
	return "", b.String(), true
}

// dockerMyID returns ZOO_MY_ID (the image writes it to <dataDir>/myid; default 1).
func dockerMyID(getenv func(string) string) string {
	if v := getenv("ZOO_MY_ID"); v != "" {
		return v
	}
	return "1"
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
