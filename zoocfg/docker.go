package zoocfg

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The official ZooKeeper Docker image (docker.io/library/zookeeper) is configured
// with environment variables that its docker-entrypoint.sh turns into
// $ZOO_CONF_DIR/zoo.cfg when that file does not exist, and into <dataDir>/myid
// when that file does not exist. zkd started without a config file does the same,
// so the image's compose files and Kubernetes manifests work unchanged.
//
// Reference: docker-library/zookeeper, docker-entrypoint.sh and Dockerfile (3.8).

// dockerEnvVars are the variables of the official image that configure the server.
var dockerEnvVars = []string{
	"ZOO_MY_ID", "ZOO_SERVERS", "ZOO_TICK_TIME", "ZOO_INIT_LIMIT", "ZOO_SYNC_LIMIT",
	"ZOO_MAX_CLIENT_CNXNS", "ZOO_STANDALONE_ENABLED", "ZOO_ADMINSERVER_ENABLED",
	"ZOO_AUTOPURGE_PURGEINTERVAL", "ZOO_AUTOPURGE_SNAPRETAINCOUNT", "ZOO_4LW_COMMANDS_WHITELIST",
	"ZOO_DATA_DIR", "ZOO_DATA_LOG_DIR", "ZOO_CFG_EXTRA", "ZOO_CONF_DIR",
}

// dockerDefaults are the image's ENV defaults (its Dockerfile), and the
// entrypoint's ZOO_SERVERS and ZOO_MY_ID fallbacks.
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
	"ZOO_MY_ID":                     "1",
}

// DockerEnvName is the name errors and warnings give a configuration generated
// from ZOO_* variables.
const DockerEnvName = "zoo.cfg from the ZOO_* environment"

// LoadDockerEnv returns the configuration the official image would run with,
// getenv standing for the environment: $ZOO_CONF_DIR/zoo.cfg when it exists (Load),
// or else the text its entrypoint would write there (Parse). Where <dataDir>/myid
// does not exist, ZOO_MY_ID (default 1) is the myid, as the entrypoint writes it.
// ok is false when none of the image's variables is set, so a bare zkd on a
// workstation keeps its loopback defaults. As with Load, the caller validates.
func LoadDockerEnv(getenv func(string) string) (c Config, ok bool, err error) {
	for _, k := range dockerEnvVars {
		if getenv(k) != "" {
			ok = true
		}
	}
	if !ok {
		return Config{}, false, nil
	}
	env := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return dockerDefaults[k]
	}
	myID, err := strconv.ParseInt(env("ZOO_MY_ID"), 10, 64)
	if err != nil || myID < 0 {
		return Config{}, true, fmt.Errorf("ZOO_MY_ID=%q: not a server id", env("ZOO_MY_ID"))
	}
	if p := filepath.Join(env("ZOO_CONF_DIR"), "zoo.cfg"); fileExists(p) {
		c, err := load(p, myID)
		return c, true, err
	}
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
	c, err = parse(DockerEnvName, []byte(b.String()), myID)
	return c, true, err
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
