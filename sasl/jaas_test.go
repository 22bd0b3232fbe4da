package sasl

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const zkJAAS = `
/* The Server section as ZooKeeper's documentation and Kafka's deployments write it. */
Server {
       org.apache.zookeeper.server.auth.DigestLoginModule required
       user_super="adminsecret"
       user_bob="bobsecret" // the user Kafka uses
       user_kafka="k\"af\\ka\tpw";
};

// A client section, as a zkCli or Kafka broker JAAS file has it.
Client {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="bob"
    password="bobsecret";
};

QuorumServer {
    com.sun.security.auth.module.Krb5LoginModule REQUIRED
    useKeyTab=true
    keyTab="/etc/security/keytabs/zookeeper.keytab"
    storeKey=true
    useTicketCache=false
    debug=false
    principal="zookeeper/zk1.example.com@EXAMPLE.COM";
    org.example.Audit optional;
};
`

func TestParseJAASZooKeeperSections(t *testing.T) {
	j, err := ParseJAAS(zkJAAS, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Sections) != 3 {
		t.Fatalf("sections %v", j.Sections)
	}
	srv := j.Section("Server")
	want := []LoginModule{{
		Class: DigestLoginModule, Flag: Required, Line: 4,
		Options: map[string]string{"user_super": "adminsecret", "user_bob": "bobsecret", "user_kafka": "k\"af\\ka\tpw"},
	}}
	if !reflect.DeepEqual(srv, want) {
		t.Fatalf("Server:\n got %+v\nwant %+v", srv, want)
	}
	q := j.Section("QuorumServer")
	if len(q) != 2 || q[0].Class != Krb5LoginModule || q[0].Flag != Required || q[1].Flag != Optional || len(q[1].Options) != 0 {
		t.Fatalf("QuorumServer: %+v", q)
	}
	if q[0].Options["principal"] != "zookeeper/zk1.example.com@EXAMPLE.COM" || q[0].Options["useKeyTab"] != "true" ||
		q[0].Options["keyTab"] != "/etc/security/keytabs/zookeeper.keytab" || q[0].Line != 18 {
		t.Fatalf("Krb5 options: %+v", q[0])
	}
	if j.Section("Missing") != nil || (*JAAS)(nil).Section("Server") != nil {
		t.Fatal("missing sections must be nil")
	}
}

func TestParseJAASQuotingAndExpansion(t *testing.T) {
	src := `"Quoted Name" { a.B sufficient k1="x y" k2=bare_word-1.5 k3="\101\7" k4="${user.home}/kt" k5="${/}";
	  c.D Requisite; };`
	j, err := ParseJAAS(src, map[string]string{"user.home": "/home/zk"})
	if err != nil {
		t.Fatal(err)
	}
	m := j.Section("Quoted Name")
	if len(m) != 2 || m[0].Flag != Sufficient || m[1].Flag != Requisite {
		t.Fatalf("%+v", m)
	}
	want := map[string]string{"k1": "x y", "k2": "bare_word-1.5", "k3": "A\a", "k4": "/home/zk/kt", "k5": "/"}
	if !reflect.DeepEqual(m[0].Options, want) {
		t.Fatalf("options %q, want %q", m[0].Options, want)
	}
}

func TestParseJAASErrorsNameTheLine(t *testing.T) {
	cases := []struct {
		src, want string
	}{
		{"Server {\n a.B required\n k=\"v\"\n};", "line 4: expected [option key], found [}]"}, // the entry's ; is missing
		{"Server {\n a.B mandatory;\n};", "line 2: invalid control flag, mandatory"},
		{"Server {\n a.B required k=123;\n};", "line 2: expected [option value], found number 123"},
		{"Server {\n a.B required k;\n};", "line 2: expected [=]"},
		{"Server {\n a.B required;\n}", "line 3: expected [;], found end of file"},
		{"Server \n a.B required;\n};", "line 2: expected [{]"},
		{"S { a.B required; /* the rest\n };", "line 2: expected [module class name], found end of file"},
		{"S { a.B required; };\nS { a.B required; };", "line 2: can not specify multiple entries for S"},
		{"S { a.B required k=\"${nope}\"; };", "line 1: unable to expand ${nope}"},
		{"S { a.B required k=\"${empty}\"; };", "line 1: system property value expanded to empty value"},
		{"{ };", "line 1: expected [login configuration name]"},
	}
	for _, tc := range cases {
		_, err := ParseJAAS(tc.src, map[string]string{"empty": ""})
		if err == nil || !errors.Is(err, ErrJAAS) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseJAAS(%q) = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestLoadJAASNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jaas.conf")
	if err := os.WriteFile(path, []byte("Server { a.B required;\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadJAAS(path, nil)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err %v", err)
	}
	if _, err := LoadJAAS(filepath.Join(t.TempDir(), "none"), nil); !errors.Is(err, ErrJAAS) {
		t.Fatalf("missing file: %v", err)
	}
}

func FuzzParseJAAS(f *testing.F) {
	f.Add(zkJAAS)
	f.Add(`"a" { b c k="\7777\"; };`)
	f.Add("/*")
	f.Fuzz(func(t *testing.T, src string) {
		j, err := ParseJAAS(src, map[string]string{"p": "v"})
		if err == nil && j == nil {
			t.Fatal("nil config without error")
		}
	})
}

func TestParseJAASUnterminatedCommentEndsTheFile(t *testing.T) {
	j, err := ParseJAAS("S { a.B required; };\n/* open\n\n", nil)
	if err != nil || len(j.Sections) != 1 {
		t.Fatalf("%v %v", j, err)
	}
}
