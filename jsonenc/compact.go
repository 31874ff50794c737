package jsonenc

// maxNesting is encoding/json's limit on the nesting of arrays and objects
// in a MarshalJSON result.
const maxNesting = 10000

// appendCompact appends a MarshalJSON result as encoding/json writes it:
// without the space between tokens, with <, >, & and U+2028 and U+2029
// escaped inside strings, other bytes (invalid UTF-8 included) unchanged.
// It reports false, and appends nothing, unless src is exactly one JSON
// value with space around it at most, as encoding/json's scanner checks.
func appendCompact(dst, src []byte) ([]byte, bool) {
	c := compactor{src: src, dst: dst}
	c.space()
	if !c.value(0) {
		return dst, false
	}
	c.space()
	if c.i != len(src) {
		return dst, false
	}
	return c.dst, true
}

// A compactor reads src from i and appends what it has read to dst.
type compactor struct {
	src, dst []byte
	i        int
}

func (c *compactor) space() {
	for c.i < len(c.src) {
		switch c.src[c.i] {
		case ' ', '\t', '\r', '\n':
			c.i++
		default:
			return
		}
	}
}

// next returns the byte at i, or 0 at the end.
func (c *compactor) next() byte {
	if c.i < len(c.src) {
		return c.src[c.i]
	}
	return 0
}

func (c *compactor) value(nesting int) bool {
	switch b := c.next(); {
	case b == '{':
		return c.object(nesting + 1)
	case b == '[':
		return c.array(nesting + 1)
	case b == '"':
		return c.string()
	case b == '-' || '0' <= b && b <= '9':
		return c.number()
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	}
	return false
}

func (c *compactor) object(nesting int) bool {
	if nesting > maxNesting {
		return false
	}
	c.i++
	c.dst = append(c.dst, '{')
	c.space()
	if c.next() == '}' {
		c.i++
		c.dst = append(c.dst, '}')
		return true
	}
	for {
		if c.next() != '"' || !c.string() {
			return false
		}
		c.space()
		if c.next() != ':' {
			return false
		}
		c.i++
		c.dst = append(c.dst, ':')
		c.space()
		if !c.value(nesting) {
			return false
		}
		c.space()
		switch c.next() {
		case ',':
			c.i++
			c.dst = append(c.dst, ',')
			c.space()
		case '}':
			c.i++
			c.dst = append(c.dst, '}')
			return true
		default:
			return false
		}
	}
}

func (c *compactor) array(nesting int) bool {
	if nesting > maxNesting {
		return false
	}
	c.i++
	c.dst = append(c.dst, '[')
	c.space()
	if c.next() == ']' {
		c.i++
		c.dst = append(c.dst, ']')
		return true
	}
	for {
		if !c.value(nesting) {
			return false
		}
		c.space()
		switch c.next() {
		case ',':
			c.i++
			c.dst = append(c.dst, ',')
			c.space()
		case ']':
			c.i++
			c.dst = append(c.dst, ']')
			return true
		default:
			return false
		}
	}
}

// string copies a string literal, whose opening quote is at i.
func (c *compactor) string() bool {
	src := c.src
	start := c.i
	i := c.i + 1
	for i < len(src) {
		if plain[src[i]] {
			i++
			continue
		}
		switch b := src[i]; {
		case b == '"':
			c.dst = append(c.dst, src[start:i+1]...)
			c.i = i + 1
			return true
		case b < 0x20:
			return false
		case b == '\\':
			i++
			if i >= len(src) {
				return false
			}
			switch src[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(src) || !isHex(src[i+1]) || !isHex(src[i+2]) || !isHex(src[i+3]) || !isHex(src[i+4]) {
					return false
				}
				i += 5
			default:
				return false
			}
		case b == '<' || b == '>' || b == '&':
			c.dst = append(c.dst, src[start:i]...)
			c.dst = append(c.dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			i++
			start = i
		case b == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
			c.dst = append(c.dst, src[start:i]...)
			c.dst = append(c.dst, '\\', 'u', '2', '0', '2', hex[src[i+2]&0xF])
			i += 3
			start = i
		default:
			i++
		}
	}
	return false
}

// plain[b] reports whether byte b inside a string is copied as it is,
// with nothing to check or escape.
var plain = func() (t [256]bool) {
	for b := range 256 {
		t[b] = b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' && b != 0xE2
	}
	return t
}()

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// number copies a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *compactor) number() bool {
	src := c.src
	start, i := c.i, c.i
	if src[i] == '-' {
		i++
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case i < len(src) && '1' <= src[i] && src[i] <= '9':
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(src) && src[i] == '.' {
		i++
		if i >= len(src) || !isDigit(src[i]) {
			return false
		}
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if i >= len(src) || !isDigit(src[i]) {
			return false
		}
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	c.dst = append(c.dst, src[start:i]...)
	c.i = i
	return true
}

func (c *compactor) literal(word string) bool {
	if len(c.src)-c.i < len(word) || string(c.src[c.i:c.i+len(word)]) != word {
		return false
	}
	c.dst = append(c.dst, word...)
	c.i += len(word)
	return true
}
