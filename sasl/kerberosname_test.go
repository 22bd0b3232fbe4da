package sasl

import (
	"errors"
	"io"
	"log/slog"
	"testing"
)

func TestParsePrincipal(t *testing.T) {
	f := func(in, svc, host, realm string, hasHost, hasRealm, ok bool) {
		t.Helper()
		p, err := ParsePrincipal(in)
		if ok != (err == nil) {
			t.Fatalf("ParsePrincipal(%q) err %v", in, err)
		}
		if !ok {
			if !errors.Is(err, ErrMalformedPrincipal) || ValidID(in) {
				t.Fatalf("ParsePrincipal(%q): %v", in, err)
			}
			return
		}
		if p.Service != svc || p.Host != host || p.Realm != realm || p.HasHost() != hasHost || p.HasRealm() != hasRealm || p.String() != in || !ValidID(in) {
			t.Fatalf("ParsePrincipal(%q) = %+v", in, p)
		}
	}
	f("bob", "bob", "", "", false, false, true)
	f("a/b", "a/b", "", "", false, false, true) // no '@': all service, as ZooKeeper
	f("bob@EXAMPLE.COM", "bob", "", "EXAMPLE.COM", false, true, true)
	f("zk/h.example@EXAMPLE.COM", "zk", "h.example", "EXAMPLE.COM", true, true, true)
	f("zk/@R", "zk", "", "R", true, true, true)
	f("@R", "", "", "R", false, true, true)
	f("a@b@c", "", "", "", false, false, false)
	f("a/b/c@R", "", "", "", false, false, false)
}

func TestAuthToLocalRules(t *testing.T) {
	f := func(rules, realm, name, want string, wantErr error) {
		t.Helper()
		r, err := ParseRules(rules, realm)
		if err != nil {
			t.Fatalf("ParseRules(%q): %v", rules, err)
		}
		p, err := ParsePrincipal(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.ShortName(p)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("ShortName(%q) under %q = %q, %v; want %v", name, rules, got, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("ShortName(%q) under %q = %q, %v; want %q", name, rules, got, err, want)
		}
	}
	f("DEFAULT", "EXAMPLE.COM", "bob", "bob", nil)
	f("DEFAULT", "EXAMPLE.COM", "bob@EXAMPLE.COM", "bob", nil)
	f("DEFAULT", "EXAMPLE.COM", "zk/h@EXAMPLE.COM", "zk", nil)
	f("DEFAULT", "EXAMPLE.COM", "bob@OTHER.ORG", "", ErrNoMatchingRule)
	f("RULE:[1:$1@$0](.*@OTHER\\.ORG)s/@.*// DEFAULT", "EXAMPLE.COM", "bob@OTHER.ORG", "bob", nil)
	f("RULE:[2:$1](zk)s/^.*$/zookeeper/", "X", "zk/h@Y", "zookeeper", nil)
	f("RULE:[2:$1;$2](^.*;admin$)s/;admin$// DEFAULT", "R", "alice/admin@R", "alice", nil)
	f("RULE:[1:$1]s/o/0/g", "R", "foo@X", "f00", nil)
	f("RULE:[1:$1]s/o/0/", "R", "foo@X", "f0o", nil)
	f("RULE:[1:$1]s/(.)(.*)/$2$1/", "R", "abc@X", "bca", nil)
	f("RULE:[1:$1@$0]", "R", "bob@X", "", ErrNoMatchingRule) // non-simple result
	for _, bad := range []string{"RULE:[x:$1]", "NOPE", "RULE:[1:$1](", "DEFAULT junk"} {
		if _, err := ParseRules(bad, "R"); !errors.Is(err, ErrBadRule) {
			t.Errorf("ParseRules(%q) = %v", bad, err)
		}
	}
}

func TestAuthorizedIDFollowsZooKeeperSwitches(t *testing.T) {
	f := func(cfg Config, name, want string) {
		t.Helper()
		p := &Provider{cfg: cfg, env: Env{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
		var err error
		if p.rules, err = ParseRules(cfg.AuthToLocal, cfg.DefaultRealm); err != nil {
			t.Fatal(err)
		}
		got, err := p.authorize(name)
		if err != nil || got != want {
			t.Fatalf("authorize(%q) with %+v = %q, %v; want %q", name, cfg, got, err, want)
		}
	}
	c := DefaultConfig()
	c.DefaultRealm = "EXAMPLE.COM"
	f(c, "bob", "bob")
	f(c, "zkcli/host1@EXAMPLE.COM", "zkcli/host1@EXAMPLE.COM")
	c.RemoveHostFromPrincipal = true
	f(c, "zkcli/host1@EXAMPLE.COM", "zkcli@EXAMPLE.COM")
	c.RemoveRealmFromPrincipal = true
	f(c, "zkcli/host1@EXAMPLE.COM", "zkcli")
	// No rule applies (foreign realm): the authenticated name, untouched.
	f(c, "zkcli/host1@OTHER.ORG", "zkcli/host1@OTHER.ORG")
}

func TestFromPropertiesAndMatching(t *testing.T) {
	props := map[string]string{
		"zookeeper.superUser":                                "admin",
		"zookeeper.superUser.2":                              "zk/ops@EXAMPLE.COM",
		"zookeeper.superUserX":                               "not-a-super-user",
		"zookeeper.sasl.serverconfig":                        "ZkServer",
		"zookeeper.kerberos.removeHostFromPrincipal":         "true",
		"zookeeper.kerberos.removeRealmFromPrincipal":        "TRUE", // ZooKeeper compares with "true" exactly
		"zookeeper.SASLAuthenticationProvider.superPassword": "",
		"zookeeper.letAnySaslUserDoX":                        "anyone-sasl",
		"java.security.krb5.realm":                           "EXAMPLE.COM",
		"zookeeper.allowSaslFailedClients":                   "true",
	}
	c := FromProperties(props)
	if c.LoginContext != "ZkServer" || !c.RemoveHostFromPrincipal || c.RemoveRealmFromPrincipal ||
		!c.HasSuperPassword || c.SuperPassword != "" || c.DefaultRealm != "EXAMPLE.COM" || !c.AllowFailedClients {
		t.Fatalf("%+v", c)
	}
	p := &Provider{cfg: c}
	if !p.IsSuperUser("admin") || !p.IsSuperUser("zk/ops@EXAMPLE.COM") || p.IsSuperUser("not-a-super-user") || p.IsSuperUser("") {
		t.Fatal("super users")
	}
	if !p.Matches("bob", "bob") || !p.Matches("super", "bob") || !p.Matches("bob", "anyone-sasl") || p.Matches("bob", "alice") {
		t.Fatal("matches")
	}
}

func TestDefaultRealmFromKrb5Conf(t *testing.T) {
	path := t.TempDir() + "/krb5.conf"
	writeTestFile(t, path, "# c\n[realms]\n default_realm = WRONG\n[libdefaults]\n\tdns_lookup_kdc = false\n\tdefault_realm = ZK.TEST\n")
	if r, err := DefaultRealmFromKrb5Conf(path); err != nil || r != "ZK.TEST" {
		t.Fatalf("%q %v", r, err)
	}
	c := FromProperties(map[string]string{"java.security.krb5.conf": path})
	if c.DefaultRealm != "ZK.TEST" {
		t.Fatalf("realm %q", c.DefaultRealm)
	}
}
