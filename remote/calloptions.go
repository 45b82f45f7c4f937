package remote

import (
	"reflect"

	"github.com/polyfork/polyfork/bridge"
)

// callOptionsType is the struct a bridge.CallOption sets.
var callOptionsType = reflect.TypeOf(bridge.CallOption(nil)).In(0).Elem()

// idempotent reports whether opts hold bridge.Idempotent(). The bridge keeps what a
// CallOption sets unexported, so the options are applied to a fresh value of that struct
// through reflect and its idempotent field is read back, until the bridge exports a way to
// read call options.
func idempotent(opts []bridge.CallOption) bool {
	if len(opts) == 0 {
		return false
	}
	v := reflect.New(callOptionsType)
	for _, o := range opts {
		if o != nil {
			o := reflect.ValueOf(o)
			o.Call([]reflect.Value{v})
		}
	}
	f := v.Elem().FieldByName("idempotent")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}
