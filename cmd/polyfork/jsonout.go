package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/polyfork/polyfork/protocol"
)

// toJSON renders a value decoded by protocol.DecodeValue as one line of JSON. Integers are
// exact; floats always carry a decimal point or exponent, so they read back as floats;
// NaN and the infinities, which JSON lacks, become the strings "NaN", "Infinity" and
// "-Infinity"; bytes become base64 strings; timestamps RFC 3339 strings; map keys that are
// not strings are written in decimal (a map with both the integer key 1 and the string key
// "1" is an error); other ext values become {"$ext": type, "data": base64}.
func toJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// checkJSON returns the error writeJSON would return for v, without writing anything: for
// a large result, whose answer is streamed, so found out before its status is sent.
func checkJSON(v any) error {
	switch x := v.(type) {
	case nil, bool, int64, uint64, float32, float64, string, []byte, time.Time, protocol.Ext:
	case []any:
		for _, e := range x {
			if err := checkJSON(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, e := range x {
			if err := checkJSON(e); err != nil {
				return err
			}
		}
	case map[any]any:
		seen := make(map[string]any, len(x))
		for k := range x {
			s := fmt.Sprint(k)
			if other, dup := seen[s]; dup {
				return keyClash(s, other, k)
			}
			seen[s] = k
		}
		for _, e := range x {
			if err := checkJSON(e); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("cannot write %T as JSON", v)
	}
	return nil
}

// jsonWriter is where writeJSON writes: a *bytes.Buffer for toJSON, a *bufio.Writer over
// the HTTP answer for a large result, which is then never copied whole.
type jsonWriter interface {
	io.Writer
	io.ByteWriter
	io.StringWriter
}

// writeJSON writes v as toJSON does, to buf. Once buf fails (a *bufio.Writer whose client
// went away), what is left is walked but not written.
func writeJSON(buf jsonWriter, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case uint64:
		buf.WriteString(strconv.FormatUint(x, 10))
	case float32:
		writeFloat(buf, float64(x), 32)
	case float64:
		writeFloat(buf, x, 64)
	case string:
		writeString(buf, x)
	case []byte:
		writeBase64(buf, x)
	case time.Time:
		writeString(buf, x.UTC().Format(time.RFC3339Nano))
	case protocol.Ext:
		buf.WriteString(`{"$ext":`)
		buf.WriteString(strconv.Itoa(int(x.Type)))
		buf.WriteString(`,"data":`)
		writeBase64(buf, x.Data)
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeJSON(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case map[any]any:
		m := make(map[string]any, len(x))
		keys := make(map[string]any, len(x))
		for k, e := range x {
			s := fmt.Sprint(k)
			if other, dup := keys[s]; dup {
				// An integer key and a str key with the same digits: one would overwrite
				// the other, whichever the map's order put last.
				return keyClash(s, other, k)
			}
			m[s], keys[s] = e, k
		}
		return writeJSON(buf, m)
	default:
		return fmt.Errorf("cannot write %T as JSON", v)
	}
	return nil
}

// writeBase64 writes data as a JSON string of its standard base64 encoding. Large data is
// encoded as it is written, never held twice.
func writeBase64(buf jsonWriter, data []byte) {
	if len(data) <= 3<<10 {
		writeString(buf, base64.StdEncoding.EncodeToString(data))
		return
	}
	buf.WriteByte('"')
	enc := base64.NewEncoder(base64.StdEncoding, buf)
	_, _ = enc.Write(data)
	_ = enc.Close()
	buf.WriteByte('"')
}

func writeFloat(buf jsonWriter, f float64, bits int) {
	switch {
	case math.IsNaN(f):
		buf.WriteString(`"NaN"`)
	case math.IsInf(f, 1):
		buf.WriteString(`"Infinity"`)
	case math.IsInf(f, -1):
		buf.WriteString(`"-Infinity"`)
	default:
		s := strconv.FormatFloat(f, 'g', -1, bits)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		buf.WriteString(s)
	}
}

// writeString writes s as a JSON string. Unlike encoding/json's default it leaves <, > and
// & alone: the output is data, not HTML. Bytes that are not UTF-8 become U+FFFD.
func writeString(buf jsonWriter, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				buf.WriteByte('\\')
				buf.WriteByte(c)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			default:
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString(s[start:i])
			buf.WriteString(`\ufffd`)
			i++
			start = i
			continue
		}
		i += size
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

// keyClash is the error for two keys of one map, a and b, that JSON writes as the same s:
// one would overwrite the other, whichever the map's order put last.
func keyClash(s string, a, b any) error {
	if _, ok := a.(string); ok {
		a, b = b, a
	}
	if _, ok := b.(string); ok {
		return fmt.Errorf("a map has both the %s key %s and the string key %q, which are one key in JSON", keyKind(a), s, s)
	}
	return fmt.Errorf("a map has two keys written %q in JSON (a %s and a %s), which are one key there", s, keyKind(a), keyKind(b))
}

// keyKind names the kind of a map key that is not a string.
func keyKind(k any) string {
	switch k.(type) {
	case bool:
		return "boolean"
	case float32, float64:
		return "number"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "integer"
	}
	return fmt.Sprintf("%T", k)
}
