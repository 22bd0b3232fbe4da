package tests

import (
	"fmt"
	"strings"
	"testing"

	"zkd/internal/zktest"
	"zkd/jute"
)

// With DigestAuthenticationProvider.enabled=false in zoo.cfg, Apache ZooKeeper
// 3.8 leaves the digest provider out of its registry: addauth digest fails, and
// an ACL entry of the scheme is invalid in create and setACL, while world and ip
// entries still serve. zkd answers every step as ZooKeeper does, with the
// provider off and (the default) on.
func TestDigestProviderSwitchLikeZooKeeper(t *testing.T) {
	digestACL := []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "digest", ID: "bob:" + strings.Repeat("A", 27) + "="}}}
	ipACL := []jute.ACL{{Perms: jute.PermAll, ID: jute.Id{Scheme: "ip", ID: "127.0.0.1"}}}
	steps := func(t *testing.T, addr string) string {
		var out []string
		note := func(step string, code jute.Code) { out = append(out, fmt.Sprintf("%s=%d", step, code)) }
		c := zktest.Connect(t, addr, 10000)
		create := func(path string, acl []jute.ACL) jute.Code {
			h, _ := c.Call(jute.OpCreate, (&jute.CreateRequest{Path: path, ACL: acl}).Append(nil))
			return h.Err
		}
		note("create-world", create("/open", jute.OpenACLUnsafe))
		note("create-ip", create("/ip", ipACL))
		note("create-digest", create("/digest", digestACL))
		note("create-digest-and-world", create("/mixed", append(append([]jute.ACL{}, jute.OpenACLUnsafe...), digestACL...)))
		h, _ := c.Call(jute.OpSetACL, (&jute.SetACLRequest{Path: "/open", ACL: digestACL, Version: -1}).Append(nil))
		note("setacl-digest", h.Err)
		h, _ = c.Call(jute.OpSetACL, (&jute.SetACLRequest{Path: "/open", ACL: ipACL, Version: -1}).Append(nil))
		note("setacl-ip", h.Err)
		h, _ = c.CallXid(jute.XidAuth, jute.OpAuth, (&jute.AuthPacket{Scheme: "digest", Auth: []byte("bob:secret")}).Append(nil))
		note("addauth-digest", h.Err)
		if h.Err != jute.CodeOK {
			c.ExpectClosedSilently()
			out = append(out, "closed")
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name, cfg string
		wantOff   bool
	}{
		{"off", "DigestAuthenticationProvider.enabled=false\n", true},
		{"on", "DigestAuthenticationProvider.enabled=true\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zk := zktest.StartZooKeeper(t, zktest.ZooKeeperOptions{Extra: tc.cfg})
			want := steps(t, zk.Addr)
			if got := steps(t, startFromZooCfg(t, tc.cfg)); got != want {
				t.Fatalf("zkd:       %s\nZooKeeper: %s", got, want)
			}
			// The comparison is only worth something if the switch did something.
			if off := strings.Contains(want, fmt.Sprintf("create-digest=%d", jute.CodeInvalidACL)); off != tc.wantOff {
				t.Fatalf("ZooKeeper with %q: %s", strings.TrimSpace(tc.cfg), want)
			}
			t.Logf("both servers: %s", want)
		})
	}
}
