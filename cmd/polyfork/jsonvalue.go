package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/polyfork/polyfork/protocol"
)

// parseJSON decodes one JSON text into values for msgpack: integers become int64 (uint64
// above math.MaxInt64), other numbers float64. An integer outside both ranges is an error,
// never a silent float.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("invalid JSON: more than one value")
	}
	return fromJSON(v)
}

func fromJSON(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return jsonNumber(x)
	case []any:
		for i := range x {
			var err error
			if x[i], err = fromJSON(x[i]); err != nil {
				return nil, err
			}
		}
		return x, nil
	case map[string]any:
		for k := range x {
			var err error
			if x[k], err = fromJSON(x[k]); err != nil {
				return nil, err
			}
		}
		return x, nil
	}
	return v, nil
}

func jsonNumber(n json.Number) (any, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
		return nil, fmt.Errorf("the integer %s is outside the int64 and uint64 ranges msgpack can carry", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("the number %s does not fit in a float64", s)
	}
	return f, nil
}

// toJSON renders a value decoded by protocol.DecodeValue as one line of JSON. Integers are
// exact; floats always carry a decimal point or exponent, so they read back as floats;
// NaN and the infinities, which JSON lacks, become the strings "NaN", "Infinity" and
// "-Infinity"; bytes become base64 strings; timestamps RFC 3339 strings; map keys that are
// not strings are written in decimal; other ext values become {"$ext": type, "data": base64}.
func toJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, v any) error {
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
		writeString(buf, base64.StdEncoding.EncodeToString(x))
	case time.Time:
		writeString(buf, x.UTC().Format(time.RFC3339Nano))
	case protocol.Ext:
		fmt.Fprintf(buf, `{"$ext":%d,"data":`, x.Type)
		writeString(buf, base64.StdEncoding.EncodeToString(x.Data))
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
		for k, e := range x {
			m[fmt.Sprint(k)] = e
		}
		return writeJSON(buf, m)
	default:
		return fmt.Errorf("cannot write %T as JSON", v)
	}
	return nil
}

func writeFloat(buf *bytes.Buffer, f float64, bits int) {
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

func writeString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s) // strings always marshal
	buf.Write(b)
}
