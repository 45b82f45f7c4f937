// Package remote puts polyfork workers on other machines, behind NATS, with the API of a
// local pool: a remote Pool has the Call, Send and Notify of bridge.Pool and satisfies
// bridge.Caller, so code written against a local pool runs against workers anywhere.
//
// An Agent runs a local bridge.Pool and serves it as a NATS micro service named after the
// workers' service; several agents of one name, on several machines, share its calls. A
// remote Pool (Dial) calls them:
//
//	// on each worker machine (or: polyfork agent -nats URL -service sum -- python3 compute.py)
//	agent, err := remote.NewAgent(ctx, nc, "sum", []string{"python3", "compute.py"},
//		remote.AgentPool(bridge.WithWorkers(8)))
//
//	// in the service that calls them
//	pool, err := remote.Dial(ctx, nc, "sum", remote.OnMessage(func(v any) { ... }))
//	var total int64
//	err = pool.Call(ctx, "get_sum", []any{100000}, &total, bridge.Idempotent())
//
// What travels, and how it fails, is written down in protocol/SPEC.md section 10, so that an
// agent or a caller can be written in any language with a NATS client: the method, params
// and result as msgpack, unchanged; the caller's deadline, which the agent applies;
// cancellation, which reaches the worker's handler as $cancel (also when the caller dies or
// loses its connection: the agent learns it from its beats); the worker's errors with
// their type, message and traceback; the agent's and worker's identity. A call that no
// agent serves fails at once (ErrNoAgents); a call whose agent dies fails within the
// heartbeat bound (ErrAgentLost, 2 s by default), and an Idempotent one is sent to another
// agent; a saturated agent hands calls on; a lost connection fails the calls in flight
// (ErrDisconnected) instead of losing them. Bodies above the server's maximum payload travel
// through the JetStream object store when the server has JetStream, and fail with a
// *PayloadError naming the limit otherwise. Durable sends (WithDurableSends, AgentDurable)
// go through a JetStream work-queue stream, at least once.
//
// RunServer starts a NATS server in the process, on loopback unless told otherwise: what a
// single machine needs, and what the tests run.
//
// # Files
//
//	wire.go           subjects, headers, codes and error types: the names of SPEC section 10
//	errors.go         Error, PayloadError and the sentinels
//	options.go        Option: the remote pool's options
//	calloptions.go    reading bridge.Idempotent from a call's options
//	pool.go           Pool: Dial, Call, Send, Notify, Close; retries; connection watch
//	calls.go          the table of calls waiting for their answers, and their heartbeats
//	agent_options.go  AgentOption: the agent's options
//	agent.go          Agent: NewAgent, Stats, Shutdown, Kill; workers' events published
//	agent_call.go     serving one call or notification: deadline, $cancel, beats, answers
//	durable.go        the JetStream work-queue stream of durable sends, and its consumer
//	objects.go        the JetStream object store for bodies above the maximum payload
//	discover.go       Agents: the agents of a service, from NATS micro STATS
//	server.go         RunServer: a NATS server in this process
package remote
