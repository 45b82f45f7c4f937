package protocol

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Go structs meet maps from other languages here. A map fills a struct field by field,
// matching each key to the field whose msgpack tag names it, else whose json tag names it,
// else whose name it is; each of these also up to case (as encoding/json matches), so the
// structs users already have for JSON work unchanged. Keys that match no field are
// ignored, but a map none of whose keys matches a field is an error: a struct left all
// zeros with a nil error is the silent failure this exists to prevent.

var (
	timeType        = reflect.TypeOf(time.Time{})
	customDecoder   = reflect.TypeOf((*msgpack.CustomDecoder)(nil)).Elem()
	msgpackUnmarshl = reflect.TypeOf((*msgpack.Unmarshaler)(nil)).Elem()
)

// walks reports whether values of t are decoded by decodeInto rather than by the msgpack
// library directly.
func walks(t reflect.Type) bool { return factsOf(t).walks }

// computeWalks answers walks for t; visiting holds the types being answered further up,
// so that a recursive type does not recurse for ever. Only final answers are cached.
func computeWalks(t reflect.Type, visiting map[reflect.Type]bool) bool {
	if visiting[t] {
		return false // decided by the outer call, which sees the whole type
	}
	visiting[t] = true
	defer delete(visiting, t)
	if decodesItself(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Struct:
		return !planFor(t).asArray
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return computeWalks(t.Elem(), visiting)
	}
	return false
}

// fieldPlan is where one key goes.
type fieldPlan struct {
	index []int
	name  string // the Go field name, for errors
}

// structPlan is how a struct type is filled from a map.
type structPlan struct {
	exact   map[string]*fieldPlan // msgpack tag, then json tag, then field name
	folded  map[string]*fieldPlan // the same, lower-cased
	names   []string              // the keys it takes, for errors
	asArray bool                  // msgpack:",as_array": the library's own format
}

var plans sync.Map // reflect.Type -> *structPlan

func planFor(t reflect.Type) *structPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*structPlan)
	}
	p := &structPlan{exact: map[string]*fieldPlan{}, folded: map[string]*fieldPlan{}}
	addFields(p, t, nil)
	sort.Strings(p.names)
	plans.Store(t, p)
	return p
}

// addFields adds t's fields to p, flattening embedded structs as encoding/json does.
func addFields(p *structPlan, t reflect.Type, prefix []int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		index := append(append([]int(nil), prefix...), i)
		mp, mpOpts := splitTag(f.Tag.Get("msgpack"))
		js, _ := splitTag(f.Tag.Get("json"))
		if f.Name == "_msgpack" && strings.Contains(mpOpts, "as_array") {
			p.asArray = true
		}
		if mp == "-" || (mp == "" && js == "-") {
			continue
		}
		if f.Anonymous && mp == "" && js == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(p, ft, index)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		fp := &fieldPlan{index: index, name: f.Name}
		key := f.Name
		switch {
		case mp != "":
			key = mp
		case js != "":
			key = js
		}
		if _, taken := p.exact[key]; !taken {
			p.exact[key] = fp
			p.names = append(p.names, key)
		}
		if _, taken := p.folded[strings.ToLower(key)]; !taken {
			p.folded[strings.ToLower(key)] = fp
		}
	}
}

func splitTag(tag string) (name, opts string) {
	name, opts, _ = strings.Cut(tag, ",")
	return name, opts
}

func (p *structPlan) lookup(key string) *fieldPlan {
	if f, ok := p.exact[key]; ok {
		return f
	}
	return p.folded[strings.ToLower(key)]
}

// decodeInto fills v from the checked msgpack value b; path names v in errors.
func decodeInto(b []byte, v reflect.Value, at *path) error {
	t := v.Type()
	if f := factsOf(t); !f.walks {
		return decodeLeafOf(b, v, at, f)
	}
	isNil := b[0] == 0xc0
	switch t.Kind() {
	case reflect.Pointer:
		if isNil {
			v.SetZero()
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return decodeInto(b, v.Elem(), at)
	case reflect.Struct:
		if isNil {
			v.SetZero()
			return nil
		}
		return decodeStruct(b, v, at)
	case reflect.Slice:
		if isNil {
			v.SetZero()
			return nil
		}
		c := cursor{b: b}
		n, ok := c.arrayLen()
		if !ok {
			return fmt.Errorf("%s: cannot decode %s into %s", at.String(), describe(b[0]), t)
		}
		s := reflect.MakeSlice(t, n, n)
		at.push(step{kind: '['})
		for i := 0; i < n; i++ {
			at.top().index = i
			if err := decodeInto(c.value(), s.Index(i), at); err != nil {
				return err
			}
		}
		at.pop()
		v.Set(s)
		return nil
	case reflect.Array:
		c := cursor{b: b}
		n, ok := c.arrayLen()
		if !ok || n != t.Len() {
			return fmt.Errorf("%s: cannot decode %s into %s", at.String(), describeLen(b), t)
		}
		at.push(step{kind: '['})
		for i := 0; i < n; i++ {
			at.top().index = i
			if err := decodeInto(c.value(), v.Index(i), at); err != nil {
				return err
			}
		}
		at.pop()
		return nil
	case reflect.Map:
		if isNil {
			v.SetZero()
			return nil
		}
		c := cursor{b: b}
		n, ok := c.mapLen()
		list := false // PHP's map of keys 0..n-1, a list on the wire (see phpMaps)
		if !ok && (b[0] == 0x90 || isIntKind(t.Key().Kind())) {
			n, ok = c.arrayLen()
			list = true
		}
		if !ok {
			return fmt.Errorf("%s: cannot decode %s into %s", at.String(), describe(b[0]), t)
		}
		m := reflect.MakeMapWithSize(t, n)
		for i := 0; i < n; i++ {
			k := reflect.New(t.Key()).Elem()
			var kb []byte
			if list {
				kb = uintBytes(uint64(i))
			} else {
				kb = c.value()
			}
			at.push(step{kind: 'k'})
			if err := decodeLeaf(kb, k, at); err != nil {
				return err
			}
			if !k.Comparable() { // an interface holding a slice or a map: SetMapIndex panics
				return fmt.Errorf("%s: %s cannot be a key of %s: it decodes into %s, which is not comparable",
					at.String(), describe(kb[0]), t, typeName(k))
			}
			at.pop()
			e := reflect.New(t.Elem()).Elem()
			at.push(step{kind: 'v', key: k})
			if err := decodeInto(c.value(), e, at); err != nil {
				return err
			}
			at.pop()
			m.SetMapIndex(k, e)
		}
		v.Set(m)
		return nil
	}
	return decodeLeaf(b, v, at)
}

// typeName names the dynamic type of v, which holds a decoded map key.
func typeName(v reflect.Value) string {
	for v.Kind() == reflect.Interface && !v.IsNil() {
		v = v.Elem()
	}
	return v.Type().String()
}

func describeLen(b []byte) string {
	c := cursor{b: b}
	if n, ok := c.arrayLen(); ok {
		return fmt.Sprintf("an array of %d elements", n)
	}
	return describe(b[0])
}

// decodeStruct fills the struct v from a map.
func decodeStruct(b []byte, v reflect.Value, at *path) error {
	t := v.Type()
	if b[0] == 0x90 { // PHP's empty map (see phpMaps): nothing to fill
		return nil
	}
	c := cursor{b: b}
	n, ok := c.mapLen()
	if !ok {
		return fmt.Errorf("%s: cannot decode %s into struct %s: a struct is filled from a map", at.String(), describe(b[0]), t)
	}
	p := planFor(t)
	matched := 0
	var unknown []string
	for i := 0; i < n; i++ {
		k, isStr := c.str()
		if !isStr {
			// A key that is not a str (an int key of a PHP array or a Python dict) matches
			// no field; it is named in the error too (the list was empty: "none of the keys
			// matches").
			kb := c.value()
			c.value()
			if len(unknown) < 8 {
				unknown = append(unknown, keyText(kb)+" ("+describe(kb[0])+")")
			}
			continue
		}
		val := c.value()
		f := p.lookup(string(k))
		if f == nil {
			if len(unknown) < 8 {
				unknown = append(unknown, fmt.Sprintf("%q", k))
			}
			continue
		}
		fv, err := fieldForSet(v, f.index)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", at.String(), f.name, err)
		}
		at.push(step{kind: '.', name: f.name})
		if err := decodeInto(val, fv, at); err != nil {
			return err
		}
		at.pop()
		matched++
	}
	if n > 0 && matched == 0 {
		return fmt.Errorf("%s: none of the keys %s matches a field of %s, which takes %s; "+
			"name the fields with `msgpack:\"key\"` or `json:\"key\"` tags",
			at.String(), strings.Join(unknown, ", "), t, strings.Join(p.names, ", "))
	}
	return nil
}

// path is where the value being decoded sits in the value Unmarshal was given: a stack of
// steps that decoding pushes as it goes down and pops as it comes back, shared by one
// Unmarshal call, and rendered ("the value[2].name", "the value[key]") only for an error.
type path struct {
	root  string
	steps []step
}

// step is one step of a path: kind '[' an element (index), '.' a field (name), 'k' the key
// of the map above, 'v' the value under key.
type step struct {
	kind  byte
	name  string
	index int
	key   reflect.Value
}

func (p *path) push(s step) { p.steps = append(p.steps, s) }
func (p *path) pop()        { p.steps = p.steps[:len(p.steps)-1] }
func (p *path) top() *step  { return &p.steps[len(p.steps)-1] }

func (p *path) String() string {
	var b strings.Builder
	b.WriteString(p.root)
	for _, s := range p.steps {
		switch s.kind {
		case '[':
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case '.':
			b.WriteString("." + s.name)
		case 'k':
			b.WriteString(" key")
		case 'v':
			fmt.Fprintf(&b, "[%v]", s.key.Interface())
		}
	}
	return b.String()
}

// fieldForSet returns the field at index, allocating embedded struct pointers on the way.
func fieldForSet(v reflect.Value, index []int) (reflect.Value, error) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return v, fmt.Errorf("cannot set an embedded pointer to an unexported struct")
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, nil
}

// decodeLeaf decodes b into v with the msgpack library (struct tags msgpack, then json).
func decodeLeaf(b []byte, v reflect.Value, at *path) error {
	return decodeLeafOf(b, v, at, factsOf(v.Type()))
}

// decodeLeafOf is decodeLeaf given the facts of v's type.
func decodeLeafOf(b []byte, v reflect.Value, at *path, f *typeFacts) (err error) {
	if f.maps {
		b = phpMaps(b, v.Type())
	}
	if f.ints {
		if e := checkIntsIn(b, v.Type()); e != nil {
			return fmt.Errorf("%s%w", at.String(), e)
		}
	}
	d := getDecoder(b)
	defer putDecoder(d)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: cannot decode into %s: %v", at.String(), v.Type(), r)
		}
	}()
	if v.Kind() == reflect.Interface && v.NumMethod() == 0 {
		x, err := decodeAny(d.Decoder)
		if err != nil {
			return fmt.Errorf("%s: %w", at.String(), err)
		}
		if x == nil {
			v.SetZero()
		} else {
			v.Set(reflect.ValueOf(x))
		}
		return nil
	}
	if err := d.DecodeValue(v); err != nil {
		if where, eb, et, inner := locate(b, v.Type()); where != "" && inner != nil {
			return fmt.Errorf("%s%s: cannot decode %s into %s: %w", at.String(), where, describe(eb[0]), et, inner)
		}
		return fmt.Errorf("%s: cannot decode %s into %s: %w", at.String(), describe(b[0]), v.Type(), err)
	}
	return nil
}
