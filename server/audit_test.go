package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"
)

// In an ensemble the server a client is connected to audits its writes, and
// every member audits the deletion of the ephemerals its session's end removes,
// as ZooKeeper's members each do when they apply it.
func TestAuditLogInAnEnsemble(t *testing.T) {
	ms := newReconfigMembers(t, 3)
	for _, m := range ms {
		// log.dir becomes zookeeper.log.dir, as any zoo.cfg key becomes zookeeper.<key>.
		m.extra = "audit.enable=true\nlog.dir=" + m.dir + "\n"
		m.writeConfig(t, ms)
	}
	startMembers(t, ms)
	leaderOf(t, []*Server{ms[0].srv, ms[1].srv, ms[2].srv})
	via := ms[1]
	c := via.client(t)
	if _, err := c.Create("/audited", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	session := fmt.Sprintf("session=0x%x\t", c.SessionID())
	var user string // the server's own name in the audit log: envi's user.name
	for _, kv := range via.srv.Sessions().Environment() {
		if kv[0] == "user.name" {
			user = kv[1]
		}
	}
	c.Close()
	read := func(m *reconfigMember) string {
		b, _ := os.ReadFile(filepath.Join(m.dir, defaultAuditFile))
		return string(b)
	}
	for _, m := range ms {
		eventually(t, fmt.Sprintf("member %d audits the ephemeral's deletion", m.myid), func() error {
			if !strings.Contains(read(m), session+"user="+user+"\toperation=ephemeralZNodeDeletionOnSessionCloseOrExpire\tznode=/audited\tresult=success") {
				return fmt.Errorf("audit log:\n%s", read(m))
			}
			return nil
		})
		created := strings.Contains(read(m), session+"user=127.0.0.1\tip=127.0.0.1\toperation=create\tznode=/audited\tznode_type=ephemeral\tresult=success")
		if created != (m == via) {
			t.Errorf("member %d: create audited %v; only the client's server audits it:\n%s", m.myid, created, read(m))
		}
		if !strings.Contains(read(m), "operation=serverStart\tresult=success") {
			t.Errorf("member %d: no serverStart line:\n%s", m.myid, read(m))
		}
	}
}
