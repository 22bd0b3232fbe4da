package admin

import (
	"net/url"
	"slices"
	"strconv"
	"time"
)

// command is one AdminServer command: its primary name, its aliases, and what it
// returns. run returns the command's own fields, or a non-empty errMsg for an
// error the command itself reports.
type command struct {
	name    string
	aliases []string
	run     func(s *Server, args url.Values) (fields object, errMsg string)
}

// commands are ZooKeeper 3.8's, with their aliases (spec/ops.md §2.2).
var commands = []command{
	{"configuration", []string{"conf", "config"}, (*Server).configuration},
	{"connection_stat_reset", []string{"crst"}, func(s *Server, _ url.Values) (object, string) {
		s.sess.ResetConnStats()
		return nil, ""
	}},
	{"connections", []string{"cons"}, func(s *Server, _ url.Values) (object, string) {
		var o object
		o.add("connections", s.connections(false))
		o.add("secure_connections", []any{})
		return o, ""
	}},
	{"dirs", nil, func(s *Server, _ url.Values) (object, string) {
		data, log := s.sess.DirSizes()
		return object{{"datadir_size", data}, {"logdir_size", log}}, ""
	}},
	{"dump", nil, (*Server).dump},
	{"environment", []string{"env", "envi"}, func(s *Server, _ url.Values) (object, string) {
		var o object
		for _, kv := range s.sess.Environment() {
			o.add(kv[0], kv[1])
		}
		return o, ""
	}},
	{"get_trace_mask", []string{"gtmk"}, func(s *Server, _ url.Values) (object, string) {
		return object{{"tracemask", s.sess.TraceMask()}}, ""
	}},
	{"hash", nil, func(s *Server, _ url.Values) (object, string) {
		digests := []any{}
		for _, d := range s.sess.Digests() {
			digests = append(digests, object{{"zxid", int64(d.Zxid)}, {"digest", d.Digest}, {"digest_version", d.Version}})
		}
		return object{{"digests", digests}}, ""
	}},
	{"initial_configuration", []string{"icfg"}, func(s *Server, _ url.Values) (object, string) {
		var text any // null: zkd was started without a configuration file
		if s.cfg.InitialConfiguration != "" {
			text = s.cfg.InitialConfiguration
		}
		return object{{"initial_configuration", text}}, ""
	}},
	{"is_read_only", []string{"isro"}, func(s *Server, _ url.Values) (object, string) {
		return object{{"read_only", s.sess.ReadOnly()}}, ""
	}},
	{"last_snapshot", []string{"lsnp"}, func(s *Server, _ url.Values) (object, string) {
		zxid, at := uint64(0), time.Now().Add(-s.sess.Uptime())
		if s.cfg.LastSnapshot != nil {
			if z, t, ok := s.cfg.LastSnapshot(); ok {
				zxid, at = z, t
			}
		}
		return object{{"zxid", strconv.FormatUint(zxid, 16)}, {"timestamp", at.Unix()}}, ""
	}},
	{"leader", []string{"lead"}, func(*Server, url.Values) (object, string) {
		return nil, "server is not initialized" // ZooKeeper's answer on a standalone server
	}},
	{"monitor", []string{"mntr"}, func(s *Server, _ url.Values) (object, string) {
		var o object
		for _, st := range s.sess.Monitor() {
			o.add(st.Key, st.Value)
		}
		return o, ""
	}},
	{"observer_connection_stat_reset", []string{"orst"}, func(*Server, url.Values) (object, string) { return nil, "" }},
	{"observers", []string{"obsr"}, func(*Server, url.Values) (object, string) {
		return object{{"synced_observers", 0}, {"observers", []any{}}}, ""
	}},
	{"ruok", nil, func(*Server, url.Values) (object, string) { return nil, "" }},
	{"server_stats", []string{"srvr"}, func(s *Server, _ url.Values) (object, string) { return s.serverStats(), "" }},
	{"set_trace_mask", []string{"stmk"}, func(s *Server, args url.Values) (object, string) {
		v, err := strconv.ParseInt(args.Get("traceMask"), 10, 64)
		if err != nil {
			return nil, "setTraceMask requires long traceMask argument"
		}
		return object{{"tracemask", s.sess.SetTraceMask(v)}}, ""
	}},
	{"stat_reset", []string{"srst"}, func(s *Server, _ url.Values) (object, string) {
		s.sess.ResetStats()
		return nil, ""
	}},
	{"stats", []string{"stat"}, func(s *Server, _ url.Values) (object, string) {
		o := s.serverStats()
		o.add("connections", s.connections(true))
		o.add("secure_connections", []any{})
		return o, ""
	}},
	{"system_properties", []string{"sysp"}, func(s *Server, _ url.Values) (object, string) {
		keys := make([]string, 0, len(s.cfg.SystemProperties))
		for k := range s.cfg.SystemProperties {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var o object
		for _, k := range keys {
			o.add(k, s.cfg.SystemProperties[k])
		}
		return o, ""
	}},
	{"voting_view", nil, (*Server).votingView},
	{"watch_summary", []string{"wchs"}, func(s *Server, _ url.Values) (object, string) {
		conns, paths, total := s.sess.WatchSummary()
		return object{{"num_connections", conns}, {"num_paths", paths}, {"num_total_watches", total}}, ""
	}},
	{"watches", []string{"wchc"}, func(s *Server, _ url.Values) (object, string) {
		var byID object
		for _, sw := range s.sess.WatchesBySession() {
			byID.add(strconv.FormatInt(int64(sw.Session), 10), stringList(sw.Paths))
		}
		return object{{"session_id_to_watched_paths", byID}}, ""
	}},
	{"watches_by_path", []string{"wchp"}, func(s *Server, _ url.Values) (object, string) {
		var byPath object
		for _, pw := range s.sess.WatchesByPath() {
			ids := make([]any, len(pw.Sessions))
			for i, id := range pw.Sessions {
				ids[i] = int64(id)
			}
			byPath.add(pw.Path, ids)
		}
		return object{{"path_to_session_ids", byPath}}, ""
	}},
	{"zabstate", nil, func(*Server, url.Values) (object, string) {
		return object{{"voting", false}, {"zabstate", ""}}, ""
	}},
}

// byName maps every primary name and alias to its command.
var byName = func() map[string]*command {
	m := make(map[string]*command)
	for i := range commands {
		c := &commands[i]
		m[c.name] = c
		for _, a := range c.aliases {
			m[a] = c
		}
	}
	return m
}()

func stringList(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

func (s *Server) configuration(url.Values) (object, string) {
	c := s.sess.Conf()
	return object{
		{"client_port", c.ClientPort},
		{"data_dir", c.DataDir},
		{"data_log_dir", c.DataLogDir},
		{"tick_time", c.TickTime},
		{"max_client_cnxns", c.MaxClientCnxns},
		{"min_session_timeout", c.MinSessionTimeout},
		{"max_session_timeout", c.MaxSessionTimeout},
		{"server_id", c.ServerID},
		{"client_port_listen_backlog", c.ClientPortListenBacklog},
	}, ""
}

// connections lists the client connections (HTTP requests are not among them).
// brief is the stats form: address, interest, queue and packet counts only.
func (s *Server) connections(brief bool) []any {
	out := []any{}
	for _, ci := range s.sess.Connections() {
		o := object{
			{"remote_socket_address", ci.Remote},
			{"interest_ops", ci.Interest},
			{"outstanding_requests", ci.Queued},
			{"packets_received", ci.Received},
			{"packets_sent", ci.Sent},
		}
		if !brief {
			lop := ci.LastOp
			if lop == "" {
				lop = "NA"
			}
			cxid, zxid := ci.LastCxid, ci.LastZxid
			if !ci.HasSession {
				cxid, zxid = -1, -1
			}
			o = append(o,
				member{"session_id", int64(ci.SessionID)},
				member{"last_operation", lop},
				member{"established", ci.Established},
				member{"session_timeout", ci.Timeout},
				member{"last_cxid", cxid},
				member{"last_zxid", zxid},
				member{"last_response_time", ci.LastResponse},
				member{"last_latency", ci.LastLatency},
				member{"min_latency", ci.MinLatency},
				member{"avg_latency", ci.AvgLatency},
				member{"max_latency", ci.MaxLatency})
		}
		out = append(out, o)
	}
	return out
}

func (s *Server) dump(url.Values) (object, string) {
	d := s.sess.Dump()
	var expiry object
	for _, b := range d.Sessions {
		ids := make([]any, len(b.Sessions))
		for i, id := range b.Sessions {
			ids[i] = int64(id)
		}
		expiry.add(strconv.FormatInt(b.At, 10), ids)
	}
	var eph object
	for _, se := range d.Ephemerals {
		eph.add(strconv.FormatInt(int64(se.Session), 10), stringList(se.Paths))
	}
	return object{{"expiry_time_to_session_ids", expiry}, {"session_id_to_ephemeral_paths", eph}}, ""
}

// serverStats is server_stats' body, which stats extends.
func (s *Server) serverStats() object {
	minL, avgL, maxL := s.sess.Latency()
	recv, sent := s.sess.Packets()
	data, log := s.sess.DirSizes()
	var exceeded int64
	if s.cfg.Disk != nil {
		exceeded = s.cfg.Disk.ThresholdExceeded()
	}
	// zkd does not track reply sizes; -1 is ZooKeeper's "none yet".
	responses := func() object {
		last, least, most := s.sess.ResponseSizes()
		return object{{"last_buffer_size", last}, {"min_buffer_size", least}, {"max_buffer_size", most}}
	}
	stats := object{
		{"packets_sent", sent},
		{"packets_received", recv},
		{"fsync_threshold_exceed_count", exceeded},
		{"client_response_stats", responses()},
		{"data_dir_size", data},
		{"log_dir_size", log},
		{"provider_null", false},
		{"server_state", s.sess.ServerState()},
		{"last_processed_zxid", int64(s.sess.Tree().LastZxid())},
		{"outstanding_requests", s.sess.Outstanding()},
		{"avg_latency", avgL},
		{"max_latency", maxL},
		{"min_latency", minL},
		{"num_alive_client_connections", s.sess.ConnCount()},
		{"uptime", s.sess.Uptime().Milliseconds()},
		{"auth_failed_count", s.sess.NetStats().TLSFailures},
		{"non_mtlsremote_conn_count", 0},
		{"non_mtlslocal_conn_count", 0},
	}
	return object{
		{"version", s.sess.FullVersion()},
		{"read_only", s.sess.ReadOnly()},
		{"server_stats", stats},
		{"client_response", responses()},
		{"node_count", s.sess.NodeCount()},
	}
}

// run executes a command by any of its names and returns the response body.
func (s *Server) run(name string, args url.Values) []byte {
	c := byName[name]
	if c == nil {
		return encode(object{{"command", name}, {"error", "Unknown command: " + name}})
	}
	fields, errMsg := c.run(s, args)
	if errMsg != "" {
		return encode(object{{"error", errMsg}, {"command", c.name}})
	}
	fields = append(fields, member{"command", c.name}, member{"error", nil})
	return encode(fields)
}
