package zoocfg

import (
	"errors"
	"testing"
)

const threeServers = "server.1=127.0.0.1:2881:3881:participant;127.0.0.1:2181\n" +
	"server.2=127.0.0.1:2882:3882:participant;127.0.0.1:2182\n" +
	"server.3=127.0.0.1:2883:3883:participant;127.0.0.1:2183\n" +
	"version=100000003"

// Reconfigure computes ZooKeeper's new member list, and refuses what ZooKeeper's
// PrepRequestProcessor refuses with the code class it gives.
func TestReconfigure(t *testing.T) {
	cur, err := ParseMembership(threeServers)
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	const (
		ok      = ""
		bad     = "bad"
		runtime = "runtime"
	)
	cases := []struct {
		name                         string
		joining, leaving, newMembers *string
		want                         string // Lines() of the result, or the error class
	}{
		{"nothing", nil, nil, nil,
			"server.1=127.0.0.1:2881:3881:participant;127.0.0.1:2181\nserver.2=127.0.0.1:2882:3882:participant;127.0.0.1:2182\nserver.3=127.0.0.1:2883:3883:participant;127.0.0.1:2183\n"},
		{"remove", nil, str(" 3 , "), nil,
			"server.1=127.0.0.1:2881:3881:participant;127.0.0.1:2181\nserver.2=127.0.0.1:2882:3882:participant;127.0.0.1:2182\n"},
		{"remove unknown", nil, str("9"), nil,
			"server.1=127.0.0.1:2881:3881:participant;127.0.0.1:2181\nserver.2=127.0.0.1:2882:3882:participant;127.0.0.1:2182\nserver.3=127.0.0.1:2883:3883:participant;127.0.0.1:2183\n"},
		{"add observer", str("server.4=127.0.0.1:2884:3884:observer;2184"), str(""), nil,
			"server.1=127.0.0.1:2881:3881:participant;127.0.0.1:2181\nserver.2=127.0.0.1:2882:3882:participant;127.0.0.1:2182\nserver.3=127.0.0.1:2883:3883:participant;127.0.0.1:2183\nserver.4=127.0.0.1:2884:3884:observer;0.0.0.0:2184\n"},
		{"swap and demote", str("server.4=127.0.0.1:2884:3884;2184, server.2 = 127.0.0.1:2882:3882:observer;127.0.0.1:2182"), str("3"), nil,
			"server.1=127.0.0.1:2881:3881:participant;127.0.0.1:2181\nserver.2=127.0.0.1:2882:3882:observer;127.0.0.1:2182\nserver.4=127.0.0.1:2884:3884:participant;0.0.0.0:2184\n"},
		{"new members", str("ignored"), str("ignored"), str("server.5=127.0.0.1:2885:3885;2185,server.6=127.0.0.1:2886:3886:participant\nversion=7"),
			"server.5=127.0.0.1:2885:3885:participant;0.0.0.0:2185\nserver.6=127.0.0.1:2886:3886:participant\n"},
		{"leaving not a number", nil, str("x"), nil, runtime},
		{"joining id not a number", str("server.x=127.0.0.1:2884:3884;2184"), nil, nil, runtime},
		{"joining without =", str("server.4"), nil, nil, bad},
		{"joining without client port", str("server.4=127.0.0.1:2884:3884"), nil, nil, bad},
		{"joining bad spec", str("server.4=127.0.0.1:2884;2184"), nil, nil, bad},
		{"joining duplicate address", str("server.4=127.0.0.1:2881:3884;2184"), nil, nil, bad},
		{"new members unknown key", nil, nil, str("server.1=127.0.0.1:2881:3881;2181,tickTime=5"), bad},
		{"new members hierarchical", nil, nil, str("server.1=127.0.0.1:2881:3881;2181,group.1=1"), bad},
		{"new members bad id", nil, nil, str("server.a=127.0.0.1:2881:3881;2181"), runtime},
		{"new members observers only", nil, nil, str("server.1=127.0.0.1:2881:3881:observer;2181"), runtime},
		{"new members empty", nil, nil, str(""), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := cur.Reconfigure(c.joining, c.leaving, c.newMembers)
			var re *ReconfigError
			switch {
			case c.want == bad || c.want == runtime:
				if !errors.As(err, &re) || !errors.Is(err, ErrBadReconfig) || re.Runtime != (c.want == runtime) {
					t.Fatalf("got %v (%#v), want a %s error", err, re, c.want)
				}
			case err != nil:
				t.Fatal(err)
			case m.Lines() != c.want:
				t.Fatalf("got\n%s\nwant\n%s", m.Lines(), c.want)
			case m.Version != 0:
				t.Fatalf("version %x", m.Version)
			}
		})
	}
	if len(cur.Servers) != 3 {
		t.Fatalf("the current membership was modified: %v", cur)
	}
	if m, _ := cur.Reconfigure(nil, nil, nil); m.Lines()+"version=100000003" != threeServers {
		t.Fatal("Lines and String disagree")
	}
}
