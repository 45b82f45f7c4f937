package bridge

import (
	"fmt"

	"github.com/polyfork/polyfork/protocol"
)

// Args are the params of a request or notification from the child: a msgpack array,
// decoded on demand. Args own their bytes and stay valid after the handler returns.
type Args struct {
	items [][]byte // each param's raw msgpack
	raw   []byte   // the whole array
}

// NewArgs returns the Args of a params array in raw msgpack, checked as the reader checks
// what it receives: for Callers written outside this package that hand params to
// handlers (package remote). The Args keep raw, which must not change afterwards.
func NewArgs(raw []byte) (Args, error) { return newArgs(raw) }

// newArgs splits a params array that the Args may keep (see Conn.keep).
func newArgs(raw []byte) (Args, error) {
	items, err := protocol.SplitArray(raw)
	if err != nil {
		return Args{}, err
	}
	return Args{items: items, raw: raw}, nil
}

// Len returns the number of params.
func (a Args) Len() int { return len(a.items) }

// Raw returns the params array as raw msgpack.
func (a Args) Raw() []byte { return a.raw }

// Decode decodes the params, in order, into the pointers vs, as protocol.Unmarshal does. It
// fails if there are fewer params than pointers; extra params are left alone (check Len to
// refuse them).
func (a Args) Decode(vs ...any) error {
	if len(vs) > len(a.items) {
		return fmt.Errorf("bridge: want %d params, got %d", len(vs), len(a.items))
	}
	for i, v := range vs {
		if err := protocol.Unmarshal(a.items[i], v); err != nil {
			return fmt.Errorf("bridge: param %d: %w", i, err)
		}
	}
	return nil
}

// Value decodes param i with the mapping of protocol.DecodeValue.
func (a Args) Value(i int) (any, error) {
	if i < 0 || i >= len(a.items) {
		return nil, fmt.Errorf("bridge: param %d requested, there are %d", i, len(a.items))
	}
	return protocol.DecodeValue(a.items[i])
}

// Values decodes every param with the mapping of protocol.DecodeValue.
func (a Args) Values() ([]any, error) {
	out := make([]any, len(a.items))
	for i := range a.items {
		v, err := protocol.DecodeValue(a.items[i])
		if err != nil {
			return nil, fmt.Errorf("bridge: param %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}
