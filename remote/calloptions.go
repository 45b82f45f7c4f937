package remote

import (
	"reflect"

	"github.com/polyfork/polyfork/bridge"
)

// callOptionsType is the struct a bridge.CallOption sets.
var callOptionsType = reflect.TypeOf(bridge.CallOption(nil)).In(0).Elem()

// callOptions is what a remote call needs to know of its bridge.CallOptions.
type callOptions struct {
	idempotent bool           // bridge.Idempotent
	worker     *bridge.Worker // bridge.ReportWorker's, or nil
}

// readCallOptions reads bridge.Idempotent and bridge.ReportWorker from opts. The bridge
// keeps what a CallOption sets unexported, so the options are applied to a fresh value of
// that struct through reflect and its fields are read back, until the bridge exports a way
// to read call options (TestCallOptionsAreRead pins the fields this relies on).
func readCallOptions(opts []bridge.CallOption) callOptions {
	var co callOptions
	if len(opts) == 0 {
		return co
	}
	v := reflect.New(callOptionsType)
	for _, o := range opts {
		if o != nil {
			reflect.ValueOf(o).Call([]reflect.Value{v})
		}
	}
	if f := v.Elem().FieldByName("idempotent"); f.IsValid() && f.Kind() == reflect.Bool {
		co.idempotent = f.Bool()
	}
	if f := v.Elem().FieldByName("worker"); f.IsValid() && f.Type() == reflect.TypeOf((*bridge.Worker)(nil)) && !f.IsNil() {
		co.worker = (*bridge.Worker)(f.UnsafePointer())
	}
	return co
}
