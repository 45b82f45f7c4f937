package remote

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/polyfork/polyfork/protocol"
)

// What travels on NATS, as protocol/SPEC.md section 10 writes it down. Every subject of a
// service NAME starts with "polyfork.NAME."; bodies are polyfork messages (SPEC section 4)
// with id 0, since the NATS reply subject pairs a request with its answer.

// QueueGroup is the NATS queue group every agent of a service subscribes with, so that each
// call reaches one agent.
const QueueGroup = "polyfork"

// Headers, case-sensitive as NATS headers are.
const (
	// HeaderTimeout (request): how many milliseconds the caller will wait; the agent cancels
	// the call when they have passed.
	HeaderTimeout = "Polyfork-Timeout"
	// HeaderBeat (request): ask the agent for a beat on the reply subject every so many
	// milliseconds while the call runs.
	HeaderBeat = "Polyfork-Beat"
	// HeaderReport (request): "worker" asks for HeaderWorker, HeaderAgent and HeaderHost
	// on a successful answer too (bridge.ReportWorker).
	HeaderReport = "Polyfork-Report"
	// HeaderStatus (reply): "beat" on a heartbeat, absent on the answer.
	HeaderStatus = "Polyfork-Status"
	// HeaderAgent (reply, event): the agent's id, its NATS micro service id.
	HeaderAgent = "Polyfork-Agent"
	// HeaderHost (reply, event): where the agent runs, "hostname[pid]".
	HeaderHost = "Polyfork-Host"
	// HeaderWorker (error answer, or any answer with HeaderReport): the worker that ran the
	// call, "name[pid]", when the agent knows it.
	HeaderWorker = "Polyfork-Worker"
	// HeaderObject (request, answer): the body is the object of that name in the
	// service's object store bucket, and the message body is empty.
	HeaderObject = "Polyfork-Object"
	// HeaderErrorCode and HeaderError are the NATS micro framework's error headers: a code
	// (see the Code constants) and a one-line description.
	HeaderErrorCode = "Nats-Service-Error-Code"
	HeaderError     = "Nats-Service-Error"
	// headerNATSStatus is the server's status header: "503" with an empty body means no
	// subscriber had interest in the request (no responders).
	headerNATSStatus = "Status"
)

// isNoResponders reports the NATS server's answer that nobody subscribes to the subject a
// message went to: status 503 with an empty body.
func isNoResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get(headerNATSStatus) == "503"
}

// statusBeat is the value of HeaderStatus on a heartbeat.
const statusBeat = "beat"

// reportWorkerValue is the value of HeaderReport that asks for the worker.
const reportWorkerValue = "worker"

// Codes an agent puts in HeaderErrorCode. They follow HTTP's meanings.
const (
	CodeBadRequest  = 400 // the request was not a well-formed polyfork request; never ran
	CodeTooLarge    = 413 // a body above the NATS maximum payload, with no object store
	CodeCancelled   = 499 // the caller cancelled the call ($cancel reached the worker)
	CodeRaised      = 500 // the worker's handler raised: the body's error map says what
	CodeWorkerDied  = 502 // the worker exited or broke the protocol during the call
	CodeNotRun      = 503 // the call never ran (saturated, stopping, no worker): try another agent
	CodeTimeout     = 504 // the call's deadline passed at the agent
	codeNoResponder = 503 // the NATS server's "Status: 503": no agent subscribed
)

// Error types an agent puts in the error map, beside the worker's own (SPEC 4.2).
const (
	TypeSaturated    = "Saturated"
	TypeStopping     = "Stopping" // as SPEC section 6: the agent is stopping
	TypeUnavailable  = "Unavailable"
	TypeCrashLooping = "CrashLooping"
	TypeWorkerExited = "WorkerExited"
	TypeAgentStopped = "AgentStopped" // code 502: the agent was killed, or its drain ended, during the call
	TypeProtocol     = "ProtocolError"
	TypeTimeout      = "Timeout"
	TypeExecTimeout  = "ExecTimeout"
	TypeCancelled    = "CancelledError"
	TypeBadRequest   = "BadRequest"
	TypeTooLarge     = "PayloadTooLarge"
)

// serviceName is what NATS micro accepts as a service name.
var serviceName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// MaxServiceName is the longest service name, in bytes: it is part of every subject of
// the service, and NATS refuses a protocol line over 4 KiB.
const MaxServiceName = 200

// CheckServiceName reports a service name that NATS micro would refuse (it takes letters,
// digits, '-' and '_') or that is longer than MaxServiceName; nil for a good one. Dial,
// NewAgent and Agents check their names with it; a command line checks them first.
func CheckServiceName(name string) error {
	if !serviceName.MatchString(name) {
		return fmt.Errorf("remote: service name %s: use letters, digits, '-' and '_' only (a NATS micro service name)", protocol.QuoteName(name))
	}
	if len(name) > MaxServiceName {
		return fmt.Errorf("remote: service name %s is too long: at most %d bytes", protocol.QuoteName(name), MaxServiceName)
	}
	return nil
}

// subjects are the NATS subjects of one service.
type subjects struct {
	call, notify, cancel, events, durable string
}

func subjectsOf(name string) subjects {
	p := "polyfork." + name + "."
	return subjects{call: p + "call", notify: p + "notify", cancel: p + "cancel", events: p + "events", durable: p + "durable"}
}

// streamName is the JetStream work-queue stream of a service's durable sends.
func streamName(service string) string { return "POLYFORK_" + service }

// durableConsumer is the pull consumer every agent of a service shares.
const durableConsumer = "agents"

// bucketName is the JetStream object store bucket of a service's large bodies.
func bucketName(service string) string { return "polyfork-" + service }

// maxMillis is the longest duration a header carries: longer ones are sent, and read, as
// this (a deadline a year away is no deadline in practice).
const maxMillis = int64(365 * 24 * time.Hour / time.Millisecond)

// millis writes d as whole milliseconds for a header, rounding up so that a short
// positive duration never becomes 0, and capping it at maxMillis.
func millis(d time.Duration) string {
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	ms = min(max(ms, 1), maxMillis)
	return strconv.FormatInt(ms, 10)
}

// parseMillis reads a header written by millis; "" gives 0. A positive decimal above
// maxMillis is read as maxMillis (SPEC 10.2).
func parseMillis(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && s[0] != '-' {
		n, err = maxMillis, nil
	}
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive count of milliseconds", s)
	}
	return time.Duration(min(n, maxMillis)) * time.Millisecond, nil
}

// flushTimeout bounds a flush whose context has no deadline.
const flushTimeout = 10 * time.Second

// flush waits until the server has processed what nc sent (subscriptions included), within
// ctx, or flushTimeout when ctx has no deadline.
func flush(ctx context.Context, nc *nats.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	return nc.FlushWithContext(ctx)
}

// resultPrefix starts the body of a successful answer, [1, 0, nil, result].
var resultPrefix = []byte{0x94, 0x01, 0x00, 0xc0}
