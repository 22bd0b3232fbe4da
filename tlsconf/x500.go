package tlsconf

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Reference: OpenJDK sun.security.x509.{X500Name,RDN,AVA}: X500Principal.getName()
// is the RFC 2253 form of the DER subject, which X509AuthenticationProvider uses as
// the x509 id.

// ErrBadName is returned by JavaName for a subject that is not a DER RDNSequence.
var ErrBadName = errors.New("tlsconf: malformed distinguished name")

// rfc2253Keywords are the attribute types Java prints by keyword in RFC 2253 form;
// every other type is printed as its dotted OID with a #hex value.
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// DER string tags Java prints as text in RFC 2253 form (AVA.isDerString, not
// canonical); any other value is printed as #hex of its DER encoding.
const (
	tagUTF8String      = 0x0C
	tagPrintableString = 0x13
	tagT61String       = 0x14
	tagIA5String       = 0x16
	tagGeneralString   = 0x1B
	tagBMPString       = 0x1E
)

type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// SubjectName returns cert's subject exactly as Java's
// X509Certificate.getSubjectX500Principal().getName() prints it.
func SubjectName(cert *x509.Certificate) (string, error) {
	return JavaName(cert.RawSubject)
}

// JavaName formats a DER-encoded X.500 Name as Java's X500Principal.getName()
// (RFC 2253) does: RDNs last to first joined by ',', the AVAs of a multi-valued RDN
// in encoded order joined by '+', keywords only for CN, C, L, ST, O, OU, STREET, DC
// and UID, other types as dotted OID=#hex, and Java's escaping: ',', '=', '+', '<',
// '>', '#', ';', '"' and '\' get a backslash anywhere in a value, NUL becomes \00,
// and leading or trailing spaces and CRs are backslash-escaped.
func JavaName(der []byte) (string, error) {
	var seq []asn1.RawValue
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 {
		return "", fmt.Errorf("%w: %v", ErrBadName, err)
	}
	rdns := make([]string, 0, len(seq))
	for _, set := range seq {
		if set.Class != asn1.ClassUniversal || set.Tag != asn1.TagSet || !set.IsCompound {
			return "", fmt.Errorf("%w: RDN is not a SET", ErrBadName)
		}
		var avas []string
		rest := set.Bytes
		for len(rest) > 0 {
			var ava attributeTypeAndValue
			var err error
			if rest, err = asn1.Unmarshal(rest, &ava); err != nil {
				return "", fmt.Errorf("%w: %v", ErrBadName, err)
			}
			avas = append(avas, formatAVA(ava))
		}
		if len(avas) == 0 {
			return "", fmt.Errorf("%w: empty RDN", ErrBadName)
		}
		rdns = append(rdns, strings.Join(avas, "+"))
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		b.WriteString(rdns[i])
		if i > 0 {
			b.WriteByte(',')
		}
	}
	return b.String(), nil
}

func formatAVA(ava attributeTypeAndValue) string {
	oid := ava.Type.String()
	kw, ok := rfc2253Keywords[oid]
	full := ava.Value.FullBytes
	if !ok {
		return oid + "=#" + hex.EncodeToString(full)
	}
	s, ok := derString(full[0], ava.Value.Bytes)
	if !ok {
		return kw + "=#" + hex.EncodeToString(full)
	}
	return kw + "=" + escapeValue(s)
}

// derString decodes a string value as JDK 8 to 21 do in RFC 2253 output: the
// content bytes of every string type (PrintableString, T61String, IA5String,
// GeneralString, BMPString, UTF8String) are read as UTF-8, so a BMPString prints
// with \00 for its high bytes. (JDK 22 and later use each type's own charset;
// ZooKeeper 3.8 runs on 8 to 21, and ACLs hold the ids those printed.)
func derString(tag byte, b []byte) (string, bool) {
	switch tag {
	case tagPrintableString, tagT61String, tagIA5String, tagGeneralString, tagBMPString, tagUTF8String:
		return javaUTF8(b), true
	}
	return "", false
}

// javaUTF8 decodes b as Java's UTF-8 decoder does: each maximal prefix of a
// malformed sequence becomes one U+FFFD (Unicode's "maximal subpart" rule; Go's
// range loop would give one per byte).
func javaUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	for i := 0; i < len(b); {
		if r, n := utf8.DecodeRune(b[i:]); r != utf8.RuneError || n > 1 {
			out.WriteRune(r)
			i += n
			continue
		}
		// b[i] starts a malformed sequence: consume the lead byte and the
		// continuation bytes that are valid after it.
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch c := b[i]; {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c == 0xED:
			need, hi = 2, 0x9F
		case c >= 0xE1 && c <= 0xEF:
			need = 2
		case c == 0xF0:
			need, lo = 3, 0x90
		case c == 0xF4:
			need, hi = 3, 0x8F
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		}
		j := i + 1
		for k := 0; k < need && j < len(b); k++ {
			if b[j] < lo || b[j] > hi {
				break
			}
			lo, hi = 0x80, 0xBF
			j++
		}
		out.WriteRune(utf8.RuneError)
		i = j
	}
	return out.String()
}

// isPrintableStringChar is DerValue.isPrintableStringChar.
func isPrintableStringChar(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.ContainsRune(" '()+,-./:=?", c)
}

const javaEscapees = ",=+<>#;\"\\"

// escapeValue is the value half of AVA.toRFC2253String.
func escapeValue(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case strings.ContainsRune(javaEscapees, c):
			b.WriteByte('\\')
			b.WriteRune(c)
		case isPrintableStringChar(c):
			b.WriteRune(c)
		case c == 0:
			b.WriteString(`\00`)
		default:
			b.WriteRune(c)
		}
	}
	r := []rune(b.String())
	lead := 0
	for lead < len(r) && (r[lead] == ' ' || r[lead] == '\r') {
		lead++
	}
	trail := len(r) - 1
	for trail >= 0 && (r[trail] == ' ' || r[trail] == '\r') {
		trail--
	}
	if lead == 0 && trail == len(r)-1 {
		return string(r)
	}
	var out strings.Builder
	for i, c := range r {
		if i < lead || i > trail {
			out.WriteByte('\\')
		}
		out.WriteRune(c)
	}
	return out.String()
}

// defaultKeywords are the attribute keywords Java's X500Principal(String) accepts
// (AVAKeyword, DEFAULT format), upper case.
var defaultKeywords = map[string]bool{
	"CN": true, "C": true, "L": true, "S": true, "ST": true, "O": true, "OU": true,
	"T": true, "IP": true, "STREET": true, "DC": true, "DNQUALIFIER": true, "DNQ": true,
	"SURNAME": true, "GIVENNAME": true, "INITIALS": true, "GENERATION": true,
	"EMAIL": true, "EMAILADDRESS": true, "UID": true, "SERIALNUMBER": true,
}

// ValidName reports whether s parses as a distinguished name for Java's
// X500Principal(String) (RFC 1779 / 2253 syntax with Java's keywords), which is
// X509AuthenticationProvider.isValid for an x509 ACL id. The empty string is the
// empty name and valid.
func ValidName(s string) bool {
	i := 0
	for i < len(s) {
		var ok bool
		if i, ok = parseAVA(s, i); !ok {
			return false
		}
		if i == len(s) {
			return true
		}
		switch s[i] {
		case ',', ';', '+':
			i++
			if i == len(s) {
				return false // a separator must be followed by another AVA
			}
		default:
			return false
		}
	}
	return true
}

// parseAVA reads keyword=value at s[i:] and returns the index of the separator
// after it (or len(s)).
func parseAVA(s string, i int) (int, bool) {
	eq := strings.IndexByte(s[i:], '=')
	if eq < 0 {
		return 0, false
	}
	kw := strings.ToUpper(strings.TrimSpace(s[i : i+eq]))
	if !defaultKeywords[kw] {
		kw = strings.TrimPrefix(kw, "OID.")
		if !validOID(kw) {
			return 0, false
		}
	}
	i += eq + 1
	for i < len(s) && (s[i] == ' ' || s[i] == '\n') {
		i++
	}
	if i == len(s) {
		return i, true // empty value
	}
	switch s[i] {
	case '#':
		j := i + 1
		for j < len(s) && isHex(s[j]) {
			j++
		}
		n := j - i - 1
		if n == 0 || n%2 == 1 {
			return 0, false
		}
		// The hex must be one DER value.
		raw, _ := hex.DecodeString(s[i+1 : j])
		var v asn1.RawValue
		if rest, err := asn1.Unmarshal(raw, &v); err != nil || len(rest) > 0 {
			return 0, false
		}
		return skipTrailing(s, j)
	case '"':
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
				if j == len(s) {
					return 0, false
				}
				if !strings.ContainsRune(",=\n+<>#;\\\"", rune(s[j])) && !(isHex(s[j]) && j+1 < len(s) && isHex(s[j+1])) {
					return 0, false
				}
			}
			j++
		}
		if j == len(s) {
			return 0, false
		}
		return skipTrailing(s, j+1)
	}
	j := i
	for j < len(s) {
		c := s[j]
		if c == ',' || c == ';' || c == '+' {
			break
		}
		if strings.IndexByte(",+<>;\"", c) >= 0 {
			return 0, false
		}
		if c == '\\' {
			j++
			if j == len(s) {
				return 0, false
			}
			if isHex(s[j]) && j+1 < len(s) && isHex(s[j+1]) {
				j += 2
				continue
			}
			if !strings.ContainsRune(",=\n+<>#;\\\" ", rune(s[j])) {
				return 0, false
			}
		}
		j++
	}
	return j, true
}

func skipTrailing(s string, j int) (int, bool) {
	for j < len(s) && (s[j] == ' ' || s[j] == '\n') {
		j++
	}
	if j < len(s) && s[j] != ',' && s[j] != ';' && s[j] != '+' {
		return 0, false
	}
	return j, true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func validOID(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
