package sasl

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Reference: ZooKeeper's server/auth/KerberosName (copied from Hadoop): principal
// parsing and the auth_to_local rules of zookeeper.security.auth_to_local.

var (
	// ErrMalformedPrincipal is returned by ParsePrincipal for a name with '@' that
	// is not service[/host]@realm.
	ErrMalformedPrincipal = errors.New("sasl: malformed Kerberos name")
	// ErrNoMatchingRule is returned by Rules.ShortName when no rule applies.
	ErrNoMatchingRule = errors.New("sasl: no auth_to_local rule applies")
	// ErrBadRule is returned by ParseRules for text that is not a rule list.
	ErrBadRule = errors.New("sasl: invalid auth_to_local rule")
)

// Principal is a Kerberos name split as ZooKeeper splits it.
type Principal struct {
	Service  string
	Host     string // "" when absent
	Realm    string // "" when absent
	hasHost  bool
	hasRealm bool
}

var principalPattern = regexp.MustCompile(`^([^/@]*)(/([^/@]*))?@([^/@]*)$`)

// ParsePrincipal splits name into service/host@realm. A name without '@' is all
// service (even with a '/'); a name with '@' must match service[/host]@realm.
func ParsePrincipal(name string) (Principal, error) {
	m := principalPattern.FindStringSubmatch(name)
	if m == nil {
		if strings.Contains(name, "@") {
			return Principal{}, fmt.Errorf("%w: %s", ErrMalformedPrincipal, name)
		}
		return Principal{Service: name}, nil
	}
	return Principal{Service: m[1], Host: m[3], hasHost: m[2] != "", Realm: m[4], hasRealm: true}, nil
}

// HasHost and HasRealm report whether the components were present.
func (p Principal) HasHost() bool  { return p.hasHost }
func (p Principal) HasRealm() bool { return p.hasRealm }

func (p Principal) String() string {
	s := p.Service
	if p.hasHost {
		s += "/" + p.Host
	}
	if p.hasRealm {
		s += "@" + p.Realm
	}
	return s
}

// rule is one auth_to_local rule.
type rule struct {
	isDefault  bool
	components int
	format     string
	match      *regexp.Regexp // nil: none
	from       *regexp.Regexp // nil: no substitution
	to         string
	global     bool
	text       string
}

// Rules is a parsed zookeeper.security.auth_to_local value with the default realm
// the DEFAULT rule compares against.
type Rules struct {
	rules        []rule
	defaultRealm string
}

var rulePattern = regexp.MustCompile(`^\s*((DEFAULT)|(RULE:\[(\d*):([^\]]*)](\(([^)]*)\))?(s/([^/]*)/([^/]*)/(g)?)?))`)

// ParseRules parses a rule list ("DEFAULT" when the property is unset).
func ParseRules(text, defaultRealm string) (*Rules, error) {
	r := &Rules{defaultRealm: defaultRealm}
	rest := strings.TrimSpace(text)
	for rest != "" {
		m := rulePattern.FindStringSubmatchIndex(rest)
		if m == nil {
			return nil, fmt.Errorf("%w: %s", ErrBadRule, rest)
		}
		g := func(i int) (string, bool) {
			if m[2*i] < 0 {
				return "", false
			}
			return rest[m[2*i]:m[2*i+1]], true
		}
		if _, ok := g(2); ok {
			r.rules = append(r.rules, rule{isDefault: true, text: "DEFAULT"})
		} else {
			n, _ := g(4)
			comps, err := strconv.Atoi(n)
			if err != nil {
				return nil, fmt.Errorf("%w: %s", ErrBadRule, rest)
			}
			ru := rule{components: comps}
			ru.format, _ = g(5)
			if s, ok := g(7); ok {
				if ru.match, err = regexp.Compile("^(?:" + s + ")$"); err != nil {
					return nil, fmt.Errorf("%w: %s: %v", ErrBadRule, s, err)
				}
			}
			if s, ok := g(9); ok {
				if ru.from, err = regexp.Compile(s); err != nil {
					return nil, fmt.Errorf("%w: %s: %v", ErrBadRule, s, err)
				}
				ru.to, _ = g(10)
				ru.to = javaReplacement(ru.to)
				_, ru.global = g(11)
			}
			full, _ := g(1)
			ru.text = full
			r.rules = append(r.rules, ru)
		}
		rest = strings.TrimSpace(rest[m[1]:])
	}
	return r, nil
}

// javaReplacement turns Java's $1 group references into Go's ${1}.
func javaReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(s[i])
			}
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			b.WriteString("${" + s[i+1:j] + "}")
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var paramPattern = regexp.MustCompile(`\$(\d*)`)

// apply returns the rule's result for params [realm, service, host...], or ""
// with ok=false when it does not apply.
func (ru rule) apply(params []string, defaultRealm string) (string, bool, error) {
	var result string
	applied := false
	if ru.isDefault {
		if params[0] == defaultRealm {
			result, applied = params[1], true
		}
	} else if len(params)-1 == ru.components {
		var err error
		base := paramPattern.ReplaceAllStringFunc(ru.format, func(ref string) string {
			n, e := strconv.Atoi(ref[1:])
			if e != nil || n < 0 || n >= len(params) {
				if err == nil {
					err = fmt.Errorf("%w: index %s in %s is outside 0 to %d", ErrBadRule, ref[1:], ru.format, len(params)-1)
				}
				return ""
			}
			return params[n]
		})
		if err != nil {
			return "", false, err
		}
		if ru.match == nil || ru.match.MatchString(base) {
			switch {
			case ru.from == nil:
				result = base
			case ru.global:
				result = ru.from.ReplaceAllString(base, ru.to)
			default: // Java's replaceFirst
				result = base
				if loc := ru.from.FindStringSubmatchIndex(base); loc != nil {
					dst := ru.from.ExpandString(nil, ru.to, base, loc)
					result = base[:loc[0]] + string(dst) + base[loc[1]:]
				}
			}
			applied = true
		}
	}
	if applied && strings.ContainsAny(result, "/@") {
		return "", false, fmt.Errorf("%w: non-simple name %s after rule %s", ErrNoMatchingRule, result, ru.text)
	}
	return result, applied, nil
}

// ShortName is KerberosName.getShortName: a name without host and realm is itself;
// otherwise the first rule that applies to [realm, service(, host)] gives it.
func (r *Rules) ShortName(p Principal) (string, error) {
	if !p.hasHost && !p.hasRealm {
		return p.Service, nil
	}
	params := []string{p.Realm, p.Service}
	if p.hasHost {
		params = append(params, p.Host)
	}
	for _, ru := range r.rules {
		s, ok, err := ru.apply(params, r.defaultRealm)
		if err != nil {
			return "", err
		}
		if ok {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w to %s", ErrNoMatchingRule, p)
}
