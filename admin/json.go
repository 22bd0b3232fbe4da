package admin

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"zkd/session"
)

// The AdminServer answers in the JSON that Jackson's default pretty printer
// writes (spec/ops.md §2.2): `"key" : value`, two-space indents per object level,
// arrays on one line (`[ 1, 2 ]`, `[ ]`, `[ {` ... `}, {` ... `} ]`), no trailing
// newline. Field order is the command's, so values are built as ordered objects.

// object is a JSON object whose members keep their order.
type object []member

type member struct {
	key   string
	value any // nil, bool, int, int32, int64, uint64, float64, string, object, []any
}

func (o *object) add(key string, value any) { *o = append(*o, member{key, value}) }

// encode returns the pretty-printed JSON of v.
func encode(v any) []byte {
	var b strings.Builder
	writeValue(&b, v, 0)
	return []byte(b.String())
}

func indent(b *strings.Builder, level int) {
	for range level {
		b.WriteString("  ")
	}
}

func writeValue(b *strings.Builder, v any, level int) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int32:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	case float64:
		b.WriteString(session.JavaDouble(x))
	case string:
		writeString(b, x)
	case object:
		if len(x) == 0 {
			b.WriteString("{ }")
			return
		}
		b.WriteString("{\n")
		for i, m := range x {
			indent(b, level+1)
			writeString(b, m.key)
			b.WriteString(" : ")
			writeValue(b, m.value, level+1)
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		indent(b, level)
		b.WriteByte('}')
	case []any:
		if len(x) == 0 {
			b.WriteString("[ ]")
			return
		}
		b.WriteString("[ ")
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, e, level)
		}
		b.WriteString(" ]")
	default:
		writeString(b, "unsupported value")
	}
}

// writeString quotes s as Jackson does: ", \ and control characters escaped,
// everything else (non-ASCII included) as is.
func writeString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789ABCDEF"[r>>4])
			b.WriteByte("0123456789ABCDEF"[r&0xf])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}
