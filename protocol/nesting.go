package protocol

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// errTooDeep is what within finds: a value nested deeper than its place in a frame allows.
// A cyclic value (a map that holds itself) is infinitely deep.
var errTooDeep = errors.New("too deep")

// checkNesting refuses a value nested deeper than depth containers (MaxDepth less the
// levels the message around it takes) before the msgpack library recurses into it: on a
// cyclic value that recursion overflows the stack, which ends the whole program. Values of
// types that cannot hold containers cost a type switch.
func checkNesting(v any, depth int) error {
	if err := within(v, depth); err != nil {
		if depth == MaxDepth {
			return fmt.Errorf("the value nests deeper than %d levels, the most a frame holds (a value that contains itself?)", MaxDepth)
		}
		return fmt.Errorf("the value nests deeper than %d levels, the most it may here: a frame nests %d, and the message around it takes %d of them (a value that contains itself?)",
			depth, MaxDepth, MaxDepth-depth)
	}
	return nil
}

// within is checkNesting's walk: errTooDeep when v nests deeper than depth containers.
func within(v any, depth int) error {
	switch x := v.(type) {
	case nil, bool, string, []byte, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, time.Time, Ext, msgpack.RawMessage:
		return nil
	case []any:
		if depth <= 0 {
			return errTooDeep
		}
		for _, e := range x {
			if err := within(e, depth-1); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if depth <= 0 {
			return errTooDeep
		}
		for _, e := range x {
			if err := within(e, depth-1); err != nil {
				return err
			}
		}
		return nil
	}
	return checkValue(reflect.ValueOf(v), depth)
}

// mayNest caches, per type, whether a value of it can hold a container.
var mayNest sync.Map // reflect.Type -> bool

var (
	customEncoder = reflect.TypeOf((*msgpack.CustomEncoder)(nil)).Elem()
	marshaler     = reflect.TypeOf((*msgpack.Marshaler)(nil)).Elem()
)

// nests reports whether values of t can hold containers the encoder recurses into.
func nests(t reflect.Type) bool {
	if v, ok := mayNest.Load(t); ok {
		return v.(bool)
	}
	var n bool
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Struct:
		n = true
	case reflect.Slice, reflect.Array:
		// Elements that are containers, or may hold them. ([]int, [N]byte: no.)
		switch t.Elem().Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Struct, reflect.Slice, reflect.Array:
			n = true
		}
	}
	if t == reflect.TypeOf(time.Time{}) || t.Implements(customEncoder) || t.Implements(marshaler) {
		n = false
	}
	mayNest.Store(t, n)
	return n
}

// checkValue is within by reflection. It counts a level where the encoder writes a
// container (slice, array, map, struct), as Check counts them when the value comes back,
// so a value decoded from a frame can always be sent again.
func checkValue(rv reflect.Value, depth int) error {
	if !rv.IsValid() || !nests(rv.Type()) {
		return nil
	}
	switch rv.Kind() {
	case reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		// An interface adds no level on the wire, and cannot hold itself without a pointer.
		return checkValue(rv.Elem(), depth)
	case reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		switch rv.Type().Elem().Kind() {
		case reflect.Pointer, reflect.Interface:
			// A pointer adds no level on the wire either, but a chain of pointers and
			// interfaces with no container in it can be a cycle: it counts, so one ends.
			if depth <= 0 {
				return errTooDeep
			}
			return checkValue(rv.Elem(), depth-1)
		}
		return checkValue(rv.Elem(), depth) // the container it points to counts its level
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil
		}
		if depth <= 0 {
			return errTooDeep
		}
		for i := 0; i < rv.Len(); i++ {
			if err := checkValue(rv.Index(i), depth-1); err != nil {
				return err
			}
		}
	case reflect.Map:
		if rv.IsNil() {
			return nil
		}
		if depth <= 0 {
			return errTooDeep
		}
		it := rv.MapRange()
		for it.Next() {
			if err := checkValue(it.Key(), depth-1); err != nil {
				return err
			}
			if err := checkValue(it.Value(), depth-1); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if depth <= 0 {
			return errTooDeep
		}
		for i := 0; i < rv.NumField(); i++ {
			if rv.Type().Field(i).IsExported() {
				if err := checkValue(rv.Field(i), depth-1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
