// Package protocol implements the polyfork wire format: length-prefixed frames that each
// hold one msgpack-rpc message. SPEC.md in this folder is the normative description; the
// golden vectors in testdata/ are shared with every client library.
//
// The package has no goroutines and does no I/O policy: a FrameReader reads frames from an
// io.Reader, an Encoder builds frames in memory, DecodeMessage parses a frame's body, and
// DecodeValue and Unmarshal turn msgpack values into Go values. Every decoding path checks
// untrusted bytes before allocating anything for them (see Check), so a peer that sends
// garbage gets an *Error, never a crash or an unbounded allocation in this process.
package protocol

// Version is the protocol version this package speaks, sent in the child's $ready.
const Version = 1

// DefaultMaxFrameSize is the largest frame body accepted or produced unless configured
// otherwise: 64 MiB.
const DefaultMaxFrameSize = 64 << 20

// MaxDepth is the deepest nesting of containers a frame may hold, counting the message
// array itself.
const MaxDepth = 128

// DefaultMaxValues is the largest number of msgpack values one frame may hold unless
// configured otherwise (SPEC section 3): every scalar, str, bin, ext, array and map counts
// one, so that a frame of one-byte empty containers cannot expand into gigabytes.
const DefaultMaxValues = 4 << 20

// Environment variables a host sets for its children (SPEC section 1).
const (
	EnvProtocol     = "POLYFORK_PROTOCOL"
	EnvMaxFrameSize = "POLYFORK_MAX_FRAME_SIZE"
	EnvMaxValues    = "POLYFORK_MAX_VALUES"
	EnvChannelFDs   = "POLYFORK_CHANNEL_FDS"
)

// Message kinds, the first element of every message array.
const (
	KindRequest      Kind = 0
	KindResponse     Kind = 1
	KindNotification Kind = 2
)

// Kind tells a request, a response and a notification apart.
type Kind uint8

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindResponse:
		return "response"
	case KindNotification:
		return "notification"
	}
	return "unknown kind"
}

// Names of the notifications the protocol reserves. User notification names never start
// with '$'.
const (
	MethodReady   = "$ready"
	MethodCancel  = "$cancel"
	MethodStop    = "$stop"
	MethodMessage = "message"
)

// Error types the protocol reserves for error maps.
const (
	TypeMethodNotFound = "MethodNotFound"
	TypeCancelled      = "CancelledError"
	TypeProtocolError  = "ProtocolError"
	// TypeStopping answers a request that arrived after $stop: it was never run.
	TypeStopping = "Stopping"
)
