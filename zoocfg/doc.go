// Package zoocfg turns the ways ZooKeeper is configured into one validated Config:
// zoo.cfg, dynamic configuration files, <dataDir>/myid, the official Docker
// image's ZOO_* variables and JVM -D system properties (spec/ops.md §2, §4, §5).
// It also owns the text forms of ensemble membership, server.N lines and the
// /zookeeper/config and dynamic-file texts, which reconfig reuses.
//
// # Building a Config
//
//	Default()                  a bare zkd: standalone, 127.0.0.1:2181, ./zkd-data
//	Load(path) / Parse(text)   a zoo.cfg onto ZooKeeper's defaults
//	LoadDockerEnv(getenv)      what the official image's entrypoint would write
//	  -> c.ApplySystemProperties(-D...)   ZooKeeper's property names, on top
//	  -> caller's overrides (zkd's flags)
//	  -> c.Validate()          cross-key rules and ZooKeeper's refusals
//
// Every key is one entry of the table in keys.go: its zoo.cfg name, the system
// property ZooKeeper reads it from, ZooKeeper's default and how a value is
// applied. ZooKeeper's defaults live only in that table's def column; Default
// adds the three places where a bare zkd deviates (loopback client and admin
// addresses, ./zkd-data). A zoo.cfg key that ZooKeeper's QuorumPeerConfig does
// not consume becomes the system property zookeeper.<key>, as ZooKeeper does;
// SystemProperties lists those and the -D properties given.
//
// ZooKeeper's refusals are kept: a config file without dataDir, clientPortAddress
// without clientPort, server.N lines beside dynamicConfigFile, a non-numeric myid,
// and, for an ensemble, missing initLimit, syncLimit or myid are errors naming the
// file and line where there is one. Unknown keys are Warnings, not errors.
//
// # server.N and membership text
//
//	server.<id>=<host>:<quorumPort>:<electionPort>[:participant|:observer][|<host>:...][;[<clientHost>:]<clientPort>]
//
//	/zookeeper/config (Membership.String)   dynamic file (Membership.DynamicFileText)
//	server.1=10.0.0.1:2888:3888:participant;0.0.0.0:2181      same lines sorted as strings,
//	server.2=10.0.0.2:2888:3888:observer                      no version line; the version
//	version=100000000            (no final newline)           is in the file's name
//
// Invariants:
//   - ParseServer(s.ID, value of s.String()) == s: a Server holds exactly what
//     ZooKeeper prints (the peer type always, IP literals in Java's text form,
//     multiple addresses sorted by host, a bare client port as 0.0.0.0:port).
//   - Membership.Servers is sorted by ID and holds each ID once.
//   - Config.ClientAddr == "" means no plain client port; Quorum.MyID == NoMyID
//     means no myid. Neither is ever silently replaced by a default.
//
// Config is a plain value: loading reads files and returns, nothing runs in the
// background, and a Config must not be changed while another goroutine reads it.
package zoocfg
