package remote

import "github.com/polyfork/polyfork/bridge"

// callOptions is what a remote call needs to know of its bridge.CallOptions.
type callOptions struct {
	idempotent bool           // bridge.Idempotent
	worker     *bridge.Worker // bridge.ReportWorker's, or nil
}

// readCallOptions reads bridge.Idempotent and bridge.ReportWorker from opts.
func readCallOptions(opts []bridge.CallOption) callOptions {
	s := bridge.ReadCallOptions(opts...)
	return callOptions{idempotent: s.Idempotent, worker: s.Worker}
}
