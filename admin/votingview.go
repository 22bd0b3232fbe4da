package admin

import (
	"net/url"
	"strconv"
)

// votingView is ZooKeeper's voting_view: the participants of the current
// membership, by server id, with their quorum, election and client addresses (a
// server line without a client part shows "", except this server's own, which
// shows the client address it listens on, as ZooKeeper's does).
func (s *Server) votingView(url.Values) (object, string) {
	cur := object{}
	if s.cfg.Ensemble != nil {
		e := s.cfg.Ensemble()
		conf := s.sess.Conf()
		for _, srv := range e.Members.Servers {
			if !srv.Voting() {
				continue
			}
			var quorum, election []any
			for _, a := range srv.Addrs {
				quorum = append(quorum, a.QuorumAddr())
				election = append(election, a.ElectionAddr())
			}
			client := srv.ClientAddr
			if client == "" && srv.ID == conf.ServerID {
				client = s.sess.Config().ClientAddr
			}
			cur.add(strconv.FormatInt(srv.ID, 10), object{
				{"server_addresses", quorum},
				{"election_addresses", election},
				{"client_address", client},
				{"learner_type", "participant"},
			})
		}
	}
	return object{{"current_config", cur}}, ""
}
