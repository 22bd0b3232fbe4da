package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"text/tabwriter"
	"time"
)

// Set at build time by the Makefile and the Dockerfile:
//
//	-ldflags "-X main.version=... -X main.commit=... -X main.buildDate=..."
//
// A build without them (go build, go install) falls back to what the Go toolchain
// recorded of the checkout (vcs.revision, vcs.time, vcs.modified).
var (
	version   = "0.1.0-dev"
	commit    = ""
	buildDate = "" // RFC 3339, UTC
)

// command is a subcommand of zkd: `zkd <name> [args]`.
type command struct {
	name    string
	summary string
	run     func(args []string) int // returns the exit code
}

// commands are zkd's subcommands, in the order help lists them. Without one,
// zkd runs the server.
var commands []command

func init() {
	commands = []command{
		{"bench", "load generator: run a workload, or compare zkd and Apache ZooKeeper side by side (zkd bench -h)", benchMain},
		{"import", "copy an Apache ZooKeeper data directory into a zkd one (zkd import -h)", importMain},
		{"export", "write a zkd data directory, or a running zkd's snapshot, as ZooKeeper's (zkd export -h)", exportMain},
		{"probe", "health check: ruok, srvr or a session handshake against a server; exit 0 when healthy", probeMain},
		{"version", "print the version, commit, build date, Go version and OS/arch (also --version)", versionMain},
		{"help", "print this help (also -h)", helpMain},
	}
}

// lookupCommand returns the subcommand args start with, if any.
func lookupCommand(args []string) (command, bool) {
	if len(args) == 0 {
		return command{}, false
	}
	switch args[0] {
	case "--version", "-version":
		return lookupCommand([]string{"version"})
	case "--help":
		return lookupCommand([]string{"help"})
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c, true
		}
	}
	return command{}, false
}

// buildInfo is what `zkd version` prints.
type buildInfo struct {
	Version, Commit string
	Modified        bool
	Date            string // RFC 3339, UTC; "" when unknown
	GoVersion       string
	Platform        string
}

// currentBuild returns the running binary's build information.
func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: buildDate, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "" {
				b.Commit = s.Value
			}
		case "vcs.time":
			if b.Date == "" {
				b.Date = s.Value
			}
		case "vcs.modified":
			if commit == "" {
				b.Modified = s.Value == "true"
			}
		}
	}
	return b
}

// write prints b as `zkd version` does.
func (b buildInfo) write(w io.Writer) {
	orUnknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	c := orUnknown(b.Commit)
	if b.Modified {
		c += " (modified)"
	}
	fmt.Fprintf(w, "zkd %s\n", b.Version)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "commit:\t%s\n", c)
	fmt.Fprintf(tw, "built:\t%s\n", orUnknown(b.Date))
	fmt.Fprintf(tw, "go:\t%s\n", b.GoVersion)
	fmt.Fprintf(tw, "platform:\t%s\n", b.Platform)
	fmt.Fprintf(tw, "clients see:\t3.8.6-zkd-%s\n", b.Version)
	tw.Flush()
}

func versionMain(args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(os.Stderr, "zkd version: unexpected argument %q\n", args[0])
		return 2
	}
	currentBuild().write(os.Stdout)
	return 0
}

// buildTime is srvr's "built on": the build date when the build recorded one,
// else the modification time of the running binary.
func buildTime() time.Time {
	if d := currentBuild().Date; d != "" {
		if t, err := time.Parse(time.RFC3339, d); err == nil {
			return t
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return time.Time{}
	}
	st, err := os.Stat(exe)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// writeCommands lists the subcommands, one line each.
func writeCommands(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  zkd %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
}

// usageHead is the first part of `zkd -h`: how to run the server, then the
// subcommands; the server's flags follow.
func writeUsageHead(w io.Writer) {
	fmt.Fprint(w, `Usage: zkd [start-foreground] [flags] [-Dkey=value ...] [zoo.cfg]
       zkd <command> [args]

Without a config file zkd runs standalone on 127.0.0.1:2181 with data in ./zkd-data,
the AdminServer on 127.0.0.1:8080 (skipped with a warning if that port is taken);
the official Docker image's ZOO_* variables, when set, stand in for a config file
(written to $ZOO_CONF_DIR/zoo.cfg when that directory exists, as the image does).
A zoo.cfg is read with ZooKeeper's keys and defaults. ZooKeeper settings given as JVM
system properties (-Dzookeeper.X=Y here, or in SERVER_JVMFLAGS / JVMFLAGS) apply on top;
flags given explicitly override both.

Commands:
`)
	writeCommands(w)
}

func helpMain([]string) int {
	writeUsageHead(os.Stdout)
	fmt.Fprintln(os.Stdout, "\nServer flags: zkd -h")
	return 0
}
