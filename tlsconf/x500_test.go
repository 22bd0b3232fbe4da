package tlsconf

import (
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"zkd/internal/testutil"
)

// Attribute types used by the subject fixtures.
var (
	oidCN     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidC      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO      = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidST     = asn1.ObjectIdentifier{2, 5, 4, 8}
	oidDC     = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidUID    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidEmail  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidSerial = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidTitle  = asn1.ObjectIdentifier{2, 5, 4, 12}
)

type testAVA struct {
	oid asn1.ObjectIdentifier
	tag int
	val []byte
}

type avaSET []attributeTypeAndValue // a type name ending in SET marshals as SET OF

func ps(oid asn1.ObjectIdentifier, s string) testAVA    { return testAVA{oid, 19, []byte(s)} }
func utf8s(oid asn1.ObjectIdentifier, s string) testAVA { return testAVA{oid, 12, []byte(s)} }
func ia5(oid asn1.ObjectIdentifier, s string) testAVA   { return testAVA{oid, 22, []byte(s)} }
func bmp(oid asn1.ObjectIdentifier, s string) testAVA {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return testAVA{oid, 30, b}
}

// subjectDER encodes RDNs in DER order (the first is the most general).
func subjectDER(t testing.TB, rdns ...[]testAVA) []byte {
	t.Helper()
	seq := make([]avaSET, 0, len(rdns))
	for _, r := range rdns {
		var set avaSET
		for _, a := range r {
			set = append(set, attributeTypeAndValue{Type: a.oid, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: a.tag, Bytes: a.val}})
		}
		seq = append(seq, set)
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func one(a testAVA) []testAVA { return []testAVA{a} }

// nameCases pairs subjects with what Java's X500Principal.getName() prints, worked
// out from OpenJDK's AVA.toRFC2253String; TestJavaNameAgreesWithJDK checks each
// against a real JDK.
func nameCases(t testing.TB) []struct {
	name string
	der  []byte
	want string
} {
	return []struct {
		name string
		der  []byte
		want string
	}{
		{"simple, reversed order", subjectDER(t, one(ps(oidC, "US")), one(ps(oidO, "Acme")), one(utf8s(oidCN, "alice"))), "CN=alice,O=Acme,C=US"},
		{"escapes anywhere", subjectDER(t, one(utf8s(oidCN, `a,b+c=d;e<f>g"h\i#j`))), `CN=a\,b\+c\=d\;e\<f\>g\"h\\i\#j`},
		{"leading and trailing spaces", subjectDER(t, one(utf8s(oidCN, "  padded  "))), `CN=\ \ padded\ \ `},
		{"all spaces", subjectDER(t, one(utf8s(oidCN, "   "))), `CN=\ \ \ `},
		{"leading hash", subjectDER(t, one(utf8s(oidO, "#1 team"))), `O=\#1 team`},
		{"NUL", subjectDER(t, one(utf8s(oidCN, "a\x00b"))), `CN=a\00b`},
		{"CR at the end", subjectDER(t, one(utf8s(oidCN, "x\r"))), "CN=x\\\r"},
		{"non-ASCII UTF8String", subjectDER(t, one(utf8s(oidCN, "Jörg Müller 東京"))), "CN=Jörg Müller 東京"},
		{"BMPString read as UTF-8", subjectDER(t, one(bmp(oidOU, "Zürich"))), "OU=\\00Z\\00\uFFFD\\00r\\00i\\00c\\00h"},
		{"T61String read as UTF-8", subjectDER(t, one(testAVA{oidCN, 20, []byte{'a', 0xe9}})), "CN=a\uFFFD"},
		{"malformed UTF-8, maximal subparts", subjectDER(t, one(testAVA{oidCN, 12, []byte{'x', 0xe6, 0x9d, 'y', 0xff, 0xf0, 0x9f, 0x98}})), "CN=x\uFFFDy\uFFFD\uFFFD"},
		{"multi-valued RDN keeps encoded order", subjectDER(t, one(ps(oidC, "DE")), []testAVA{utf8s(oidOU, "ops"), utf8s(oidCN, "zk")}), "CN=zk+OU=ops,C=DE"}, // DER sorts the SET: CN first
		{"emailAddress is an OID with hex", subjectDER(t, one(ia5(oidEmail, "a@b.c")), one(utf8s(oidCN, "x"))), "CN=x,1.2.840.113549.1.9.1=#16056140622e63"},
		{"serialNumber is an OID with hex", subjectDER(t, one(ps(oidSerial, "42"))), "2.5.4.5=#13023432"},
		{"title is an OID with hex", subjectDER(t, one(utf8s(oidTitle, "boss"))), "2.5.4.12=#0c04626f7373"},
		{"DC and UID keywords", subjectDER(t, one(ia5(oidDC, "org")), one(ia5(oidDC, "example")), one(utf8s(oidUID, "u1"))), "UID=u1,DC=example,DC=org"},
		{"ST keyword", subjectDER(t, one(utf8s(oidST, "Bavaria"))), "ST=Bavaria"},
		{"non-string tag printed as hex", subjectDER(t, one(testAVA{oidCN, 18, []byte("123")})), "CN=#1203313233"},
		{"chars Java leaves unescaped", subjectDER(t, one(utf8s(oidCN, "a*b@c_d!e&f|g~h{i}")), one(utf8s(oidOU, "x\ty"))), "OU=x\ty,CN=a*b@c_d!e&f|g~h{i}"},
		{"empty value", subjectDER(t, one(utf8s(oidCN, ""))), "CN="},
		{"empty name", subjectDER(t), ""},
	}
}

func TestJavaNameFormatsLikeX500Principal(t *testing.T) {
	for _, tc := range nameCases(t) {
		got, err := JavaName(tc.der)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestJavaNameRejectsMalformedDER(t *testing.T) {
	for _, b := range [][]byte{nil, {0x30}, {0x30, 0x02, 0x05, 0x00}, {0x30, 0x02, 0x31, 0x00}, {0x31, 0x00}} {
		if _, err := JavaName(b); err == nil {
			t.Errorf("JavaName(% x) accepted", b)
		}
	}
}

var jdkNames = &testutil.JavaClasses{Name: "tlsconf"}

// compileJava compiles testdata/*.java once per test binary and returns the class
// directory.
func compileJava(t *testing.T) string {
	t.Helper()
	javac := requireTool(t, "javac")
	requireTool(t, "java")
	srcs, _ := filepath.Glob("testdata/*.java")
	return jdkNames.Compile(t, javac, srcs...)
}

func TestMain(m *testing.M) {
	testutil.Main(m, jdkNames.Remove)
}

// TestJavaNameAgreesWithJDK signs a certificate for every subject fixture and has
// a JDK print getSubjectX500Principal().getName() for it.
func TestJavaNameAgreesWithJDK(t *testing.T) {
	classes := compileJava(t)
	ca := newPKI(t, "ca")
	dir := t.TempDir()
	cases := nameCases(t)
	var files []string
	for i, tc := range cases {
		// Java refuses a certificate with an empty subject and no alternative name.
		// Go's parser refuses some of these subjects (invalid UTF-8), so the
		// certificate is written as signed, and compared by its raw subject.
		c, _ := ca.issue(leafOpts{rawSubject: tc.der, dns: []string{"zk.example"}, unparsed: true})
		path := filepath.Join(dir, fmt.Sprintf("c%02d.pem", i))
		writeFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))
		files = append(files, path)
	}
	// And one certificate made by openssl from a subject string, if it is here.
	if openssl, err := exec.LookPath("openssl"); err == nil {
		key, crt := filepath.Join(dir, "o.key"), filepath.Join(dir, "o.pem")
		run(t, openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-keyout", key, "-out", crt, "-days", "2", "-utf8",
			"-subj", `/C=DE/ST=Berlin/O=Zoo\, Keepers+OU=Ops/CN=zk-1 (test)/emailAddress=ops@example.org`)
		b, _ := os.ReadFile(crt)
		parsed, err := pemCertificates(b)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, crt)
		cases = append(cases, struct {
			name string
			der  []byte
			want string
		}{"openssl", parsed[0].RawSubject, ""})
	}
	out := run(t, "java", append([]string{"-cp", classes, "PrintSubject"}, files...)...)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(files) {
		t.Fatalf("java printed %d lines for %d certificates:\n%s", len(lines), len(files), out)
	}
	for i, line := range lines {
		b, err := hex.DecodeString(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		javaName := string(b)
		got, err := JavaName(cases[i].der)
		if err != nil {
			t.Fatal(err)
		}
		if got != javaName {
			t.Errorf("%s:\n zkd  %q\n java %q", cases[i].name, got, javaName)
		}
		if cases[i].want != "" && cases[i].want != javaName {
			t.Errorf("%s: fixture says %q, java says %q", cases[i].name, cases[i].want, javaName)
		}
	}
}

func TestValidNameLikeX500PrincipalParser(t *testing.T) {
	valid := []string{
		"", "CN=alice", "CN=alice,O=Acme,C=US", "cn=alice; o=acme", "OU=ops+CN=zk,C=DE",
		`CN=a\,b\+c\=d`, `CN=\ \ padded\ \ `, `O=\#1 team`, `CN="quoted, value"`,
		"1.2.840.113549.1.9.1=#16056140622e63", "OID.2.5.4.3=x", "EMAILADDRESS=a@b.c",
		"CN=", "CN=a\\00b", "SERIALNUMBER=42, T=boss, DNQ=q",
	}
	invalid := []string{
		"alice", "CN", "FOO=bar", "CN=a,", "CN=a<b", "CN=#123", "CN=#zz", "CN=a\\", "CN=\"open",
		"=x", "1=x", "CN=\"a\" b", "CN=a\\q",
	}
	for _, s := range valid {
		if !ValidName(s) {
			t.Errorf("ValidName(%q) = false", s)
		}
	}
	for _, s := range invalid {
		if ValidName(s) {
			t.Errorf("ValidName(%q) = true", s)
		}
	}
	// Every name zkd prints must be accepted back as an ACL id.
	for _, tc := range nameCases(t) {
		if strings.HasSuffix(tc.want, "\r") {
			continue // Java prints an escaped CR it cannot parse back; so does zkd
		}
		if !ValidName(tc.want) {
			t.Errorf("ValidName(%q) = false for a printed name", tc.want)
		}
	}
}

func FuzzJavaName(f *testing.F) {
	for _, tc := range nameCases(f) {
		f.Add(tc.der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := JavaName(der)
		if err == nil && len(s) > 12*len(der)+16 {
			t.Fatalf("output %d bytes for %d input bytes", len(s), len(der))
		}
		ValidName(s)
	})
}
