package zoocfg

import (
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Summary returns the effective settings as log attributes, for the start-up
// line ZooKeeper prints as "Created server with tickTime ... minSessionTimeout
// ...": times in milliseconds under their zoo.cfg names, directories, the 4lw
// whitelist, every port, and the ensemble's members.
func (c *Config) Summary() []slog.Attr {
	lo, hi := c.SessionTimeouts()
	client := c.ClientAddr
	if client == "" {
		client = "none"
	}
	admin := "disabled"
	if c.Admin.Enabled {
		admin = c.AdminAddr()
	}
	metrics := "disabled"
	if c.Metrics.Enabled() {
		metrics = c.MetricsAddr()
	}
	attrs := []slog.Attr{
		slog.Int64("tickTime", ms(c.TickTime)),
		slog.Int64("minSessionTimeout", ms(lo)),
		slog.Int64("maxSessionTimeout", ms(hi)),
		slog.Int("maxClientCnxns", c.MaxClientCnxns),
		slog.Int("clientPortListenBacklog", c.ClientPortListenBacklog),
		slog.String("dataDir", c.DataDir),
		slog.String("dataLogDir", c.TxnLogDir()),
		slog.String("4lw.commands.whitelist", strings.Join(c.FourLetterWords, ",")),
		slog.String("clientAddress", client),
		slog.String("adminServer", admin),
		slog.String("metrics", metrics),
	}
	if c.ConfigFile != "" {
		attrs = append(attrs, slog.String("config", c.ConfigFile))
	}
	if c.Quorum.MyID >= 0 {
		attrs = append(attrs, slog.Int64("serverId", c.Quorum.MyID))
	}
	if len(c.Quorum.Membership.Servers) == 0 {
		return append(attrs, slog.String("mode", "standalone"))
	}
	servers := make([]string, len(c.Quorum.Membership.Servers))
	for i, s := range c.Quorum.Membership.Servers {
		servers[i] = s.String()
	}
	mode := "standalone"
	if c.Ensemble() {
		mode = "ensemble"
	}
	return append(attrs,
		slog.String("mode", mode),
		slog.String("peerType", c.Quorum.PeerType.String()),
		slog.Int("initLimit", c.Quorum.InitLimit),
		slog.Int("syncLimit", c.Quorum.SyncLimit),
		slog.Any("servers", servers),
		slog.String("configVersion", "0x"+formatHex(c.Quorum.Membership.Version)))
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

func formatHex(v int64) string { return strconv.FormatInt(v, 16) }
