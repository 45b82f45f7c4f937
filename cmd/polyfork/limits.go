package main

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/polyfork/polyfork/protocol"
)

// What the wire allows (protocol/SPEC.md section 3). Input past these limits is refused
// here, with an error naming the limit, before anything reaches a child: a frame past them
// would be a protocol error that ends the child's session.
const (
	// wireMaxValues is the default value-count limit of a frame.
	wireMaxValues = protocol.DefaultMaxValues

	// A request is [0, id, method, params]: the message array holds the params, so params
	// may nest one level less than a frame, and the array and its first three fields take
	// four values of the count.
	paramsMaxDepth  = protocol.MaxDepth - 1
	requestOverhead = 4

	// A message from send is the notification [2, "message", [value]]: two levels and four
	// values (the message array, its kind, its name and the params array) around the value.
	messageMaxDepth  = protocol.MaxDepth - 2
	messageOverhead  = 4
	messageMaxValues = wireMaxValues - messageOverhead
	requestMaxValues = wireMaxValues - requestOverhead
)

// paramsDepthWhy explains paramsMaxDepth in errors.
var paramsDepthWhy = fmt.Sprintf("the wire allows %d, counting the message array around the params", protocol.MaxDepth)

// cliParamsLimits are the limits of polyfork call's PARAMS_JSON: the wire's.
var cliParamsLimits = jsonLimits{
	maxDepth: paramsMaxDepth, depthWhy: paramsDepthWhy,
	maxValues: requestMaxValues, valuesWhy: fmt.Sprintf("the wire allows %d values in a frame, %d of them for the message around the params", wireMaxValues, requestOverhead),
}

// sendLimits are the limits of each line polyfork send reads: the wire's.
var sendLimits = jsonLimits{
	maxDepth: messageMaxDepth, depthWhy: fmt.Sprintf("the wire allows %d, counting the two arrays of the message around the value", protocol.MaxDepth),
	maxValues: messageMaxValues, valuesWhy: fmt.Sprintf("the wire allows %d values in a frame, %d of them for the message around the value", wireMaxValues, messageOverhead),
}

// checkMethod reports why name cannot be called: the protocol needs a method name to be
// UTF-8 (a child that reads another is broken for good), and keeps names starting with '$'
// for its own messages.
func checkMethod(name string) error {
	switch {
	case name == "":
		return errors.New("the method name is empty")
	case !utf8.ValidString(name):
		i := 0
		for i < len(name) {
			r, size := utf8.DecodeRuneInString(name[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		return fmt.Errorf("the method name %q is not valid UTF-8 (byte 0x%02x at offset %d)", name, name[i], i)
	case name[0] == '$':
		return fmt.Errorf("the method name %q starts with '$', which the protocol keeps for its own messages", name)
	}
	return nil
}
