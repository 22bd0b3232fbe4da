package datatree

import (
	"strings"
	"unicode/utf8"
)

// ValidatePath reports whether path passes ZooKeeper's PathUtils.validatePath
// (spec/semantics.md §2.1). Java checks UTF-16 code units, so every rune outside the
// BMP (a surrogate pair there) is invalid, as is malformed UTF-8 (decoded by Java as
// U+FFFD, which lies in the forbidden U+FFF0-U+FFFF block).
func ValidatePath(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	if path == "/" {
		return true
	}
	if path[len(path)-1] == '/' {
		return false
	}
	for i := 0; i < len(path); {
		r, size := utf8.DecodeRuneInString(path[i:])
		if !validRune(r) {
			return false
		}
		i += size
	}
	// Components: no empty ones, no "." or "..".
	rest := path[1:]
	for rest != "" {
		comp := rest
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			comp, rest = rest[:j], rest[j+1:]
		} else {
			rest = ""
		}
		if comp == "" || comp == "." || comp == ".." {
			return false
		}
	}
	return true
}

func validRune(r rune) bool {
	switch {
	case r == 0, r > 0 && r < 0x20, r >= 0x7f && r <= 0x9f:
		return false
	case r >= 0xd800 && r <= 0xf8ff, r >= 0xfff0:
		return false
	}
	return true
}
