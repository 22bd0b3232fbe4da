package sasl

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Reference: OpenJDK sun.security.provider.ConfigFile (the JAAS login
// configuration reader behind java.security.auth.login.config), which tokenises
// with java.io.StreamTokenizer.

// ErrJAAS is wrapped by every JAAS configuration error.
var ErrJAAS = errors.New("sasl: JAAS configuration")

// Flag is a login module's control flag.
type Flag string

// The control flags JAAS accepts (case-insensitive in the file).
const (
	Required   Flag = "required"
	Requisite  Flag = "requisite"
	Sufficient Flag = "sufficient"
	Optional   Flag = "optional"
)

// LoginModule is one entry of a section: `Class flag key=value ...;`.
type LoginModule struct {
	Class   string
	Flag    Flag
	Options map[string]string
	Line    int // where the entry starts, for messages
}

// JAAS is a parsed login configuration: named sections of login modules.
type JAAS struct {
	Path     string // file it came from, for messages; "" when parsed from memory
	Sections map[string][]LoginModule
}

// Section returns the login modules of name, or nil.
func (j *JAAS) Section(name string) []LoginModule {
	if j == nil {
		return nil
	}
	return j.Sections[name]
}

// Kerberos returns the first Krb5LoginModule entry of section name, or nil:
// the entry that makes the section a Kerberos identity, as ZooKeeper tells
// GSSAPI from DIGEST-MD5 by the principals its login gives.
func (j *JAAS) Kerberos(name string) *LoginModule {
	mods := j.Section(name)
	for i := range mods {
		if mods[i].Class == Krb5LoginModule {
			return &mods[i]
		}
	}
	return nil
}

// maxJAASSize bounds a configuration file read into memory.
const maxJAASSize = 1 << 20

// LoadJAAS reads and parses the file at path; props expands ${name} in values.
func LoadJAAS(path string, props map[string]string) (*JAAS, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJAAS, err)
	}
	if fi.Size() > maxJAASSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrJAAS, path, maxJAASSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJAAS, err)
	}
	j, err := ParseJAAS(string(b), props)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	j.Path = path
	return j, nil
}

// ParseJAAS parses a JAAS login configuration:
//
//	Server {
//	    org.apache.zookeeper.server.auth.DigestLoginModule required
//	        user_super="adminsecret"
//	        user_bob="bobsecret";
//	};
//
// as Java reads it: // and /* */ comments; words of letters, digits and . $ _ - *;
// double-quoted strings with backslash escapes; a token that starts like a number
// (a digit, '.' or '-') is a number, which Java refuses where a name or value is
// expected; ${name} in a value is replaced from props (${/} is "/"), and a value
// that expands to nothing is an error. Errors name the line.
func ParseJAAS(src string, props map[string]string) (*JAAS, error) {
	p := &jaasParser{lx: lexer{src: src, line: 1}, props: props}
	j := &JAAS{Sections: map[string][]LoginModule{}}
	p.next()
	for p.tok.kind != tokEOF {
		name, mods, err := p.section()
		if err != nil {
			return nil, err
		}
		if _, dup := j.Sections[name]; dup {
			return nil, fmt.Errorf("%w: line %d: can not specify multiple entries for %s", ErrJAAS, p.tok.line, name)
		}
		j.Sections[name] = mods
	}
	return j, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokQuoted
	tokNumber
	tokChar // one of { } ; = and anything else not part of a word
)

type token struct {
	kind tokKind
	text string
	line int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of file"
	case tokNumber:
		return "number " + t.text
	case tokQuoted:
		return fmt.Sprintf("%q", t.text)
	}
	return "[" + t.text + "]"
}

type lexer struct {
	src  string
	pos  int
	line int
}

func isWordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0xA0 || c == '$' || c == '_' || c == '*'
}

func isWordPart(c byte) bool {
	return isWordStart(c) || c >= '0' && c <= '9' || c == '.' || c == '-'
}

func (l *lexer) next() token {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.line++
			l.pos++
		case c <= ' ':
			l.pos++
		case c == '/' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '/':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case c == '/' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '*':
			// An unterminated comment runs to the end of the file, as in
			// StreamTokenizer; whatever it hid is then missing.
			l.pos += 2
			for {
				if l.pos+1 >= len(l.src) {
					l.pos = len(l.src)
					return token{kind: tokEOF, line: l.line}
				}
				if l.src[l.pos] == '*' && l.src[l.pos+1] == '/' {
					l.pos += 2
					break
				}
				if l.src[l.pos] == '\n' {
					l.line++
				}
				l.pos++
			}
		default:
			return l.token()
		}
	}
	return token{kind: tokEOF, line: l.line}
}

func (l *lexer) token() token {
	c, line := l.src[l.pos], l.line
	switch {
	case c == '"':
		return l.quoted()
	case c >= '0' && c <= '9' || c == '.' || c == '-':
		start := l.pos
		for l.pos < len(l.src) && isWordPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokNumber, text: l.src[start:l.pos], line: line}
	case isWordStart(c):
		start := l.pos
		for l.pos < len(l.src) && isWordPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokWord, text: l.src[start:l.pos], line: line}
	}
	l.pos++
	return token{kind: tokChar, text: string(c), line: line}
}

// quoted reads a StreamTokenizer quoted string: it ends at the closing quote or
// the end of the line; backslash escapes \a \b \f \n \r \t \v, octal \ooo and
// any other escaped character as itself.
func (l *lexer) quoted() token {
	line := l.line
	l.pos++
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == '"' {
			l.pos++
			return token{kind: tokQuoted, text: b.String(), line: line}
		}
		if c == '\n' || c == '\r' {
			break // Java ends the string at the line's end
		}
		l.pos++
		if c != '\\' || l.pos == len(l.src) {
			b.WriteByte(c)
			continue
		}
		e := l.src[l.pos]
		l.pos++
		switch e {
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		default:
			if e >= '0' && e <= '7' {
				v, max := int(e-'0'), 2
				if e > '3' {
					max = 1
				}
				for i := 0; i < max && l.pos < len(l.src) && l.src[l.pos] >= '0' && l.src[l.pos] <= '7'; i++ {
					v = v*8 + int(l.src[l.pos]-'0')
					l.pos++
				}
				b.WriteRune(rune(v))
			} else {
				b.WriteByte(e)
			}
		}
	}
	return token{kind: tokQuoted, text: b.String(), line: line}
}

type jaasParser struct {
	lx    lexer
	tok   token
	props map[string]string
}

func (p *jaasParser) next() { p.tok = p.lx.next() }

func (p *jaasParser) fail(expect string) error {
	return fmt.Errorf("%w: line %d: expected %s, found %s", ErrJAAS, p.tok.line, expect, p.tok)
}

// name reads a word or quoted string.
func (p *jaasParser) name(expect string) (string, error) {
	if p.tok.kind != tokWord && p.tok.kind != tokQuoted {
		return "", p.fail(expect)
	}
	s := p.tok.text
	p.next()
	return s, nil
}

func (p *jaasParser) char(c string) error {
	if p.tok.kind != tokChar || p.tok.text != c {
		return p.fail("[" + c + "]")
	}
	p.next()
	return nil
}

func (p *jaasParser) section() (string, []LoginModule, error) {
	name, err := p.name("[login configuration name]")
	if err != nil {
		return "", nil, err
	}
	if err := p.char("{"); err != nil {
		return "", nil, err
	}
	var mods []LoginModule
	for !(p.tok.kind == tokChar && p.tok.text == "}") {
		line := p.tok.line
		class, err := p.name("[module class name]")
		if err != nil {
			return "", nil, err
		}
		flagTok := p.tok
		flag, err := p.name("[controlFlag]")
		if err != nil {
			return "", nil, err
		}
		f := Flag(strings.ToLower(flag))
		switch f {
		case Required, Requisite, Sufficient, Optional:
		default:
			return "", nil, fmt.Errorf("%w: line %d: invalid control flag, %s", ErrJAAS, flagTok.line, flag)
		}
		opts := map[string]string{}
		for !(p.tok.kind == tokChar && p.tok.text == ";") {
			key, err := p.name("[option key]")
			if err != nil {
				return "", nil, err
			}
			if err := p.char("="); err != nil {
				return "", nil, err
			}
			valLine := p.tok.line
			val, err := p.name("[option value]")
			if err != nil {
				return "", nil, err
			}
			if val, err = p.expand(val, valLine); err != nil {
				return "", nil, err
			}
			opts[key] = val
		}
		p.next()
		mods = append(mods, LoginModule{Class: class, Flag: f, Options: opts, Line: line})
	}
	p.next()
	if err := p.char(";"); err != nil {
		return "", nil, err
	}
	return name, mods, nil
}

// expand replaces ${name} from the properties, as Java's PropertyExpander.
func (p *jaasParser) expand(v string, line int) (string, error) {
	if v == "" || !strings.Contains(v, "${") {
		return v, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			b.WriteString(v)
			break
		}
		j := strings.IndexByte(v[i:], '}')
		if j < 0 {
			b.WriteString(v)
			break
		}
		b.WriteString(v[:i])
		name := v[i+2 : i+j]
		switch val, ok := p.props[name]; {
		case name == "/":
			b.WriteByte('/')
		case ok:
			b.WriteString(val)
		default:
			return "", fmt.Errorf("%w: line %d: unable to expand ${%s}", ErrJAAS, line, name)
		}
		v = v[i+j+1:]
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("%w: line %d: system property value expanded to empty value", ErrJAAS, line)
	}
	return b.String(), nil
}
