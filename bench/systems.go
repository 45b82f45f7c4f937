package bench

// Payloads are the sizes every system is measured at: an ASCII str of that many bytes,
// echoed back.
var Payloads = []int{16, 1 << 10, 64 << 10, 1 << 20}

// The groups of systems, in the order the report lists them.
const (
	GroupPolyfork = "polyfork" // the Go host and a child through a polyfork client library
	GroupPeer     = "peer"     // what a user would pick instead of polyfork
	GroupLimit    = "limit"    // raw length-prefixed bytes, no serialization
	GroupBare     = "bare"     // a minimal hand-written Go <-> child msgpack exchange
	GroupPool     = "pool"     // a polyfork pool of workers under concurrent load
	GroupSpawn    = "spawn"    // a new process per request
	GroupCluster  = "cluster"  // HTTP workers sharing one port (the seed's cluster), driven over HTTP
	GroupRemote   = "remote"   // calls through NATS, beside plain NATS and the local pool
	GroupHostCost = "hostcost" // what one call costs the Go host: wake-ups and CPU time
)

// The kinds of the remote group's systems (their Params["kind"]).
const (
	RemoteNATS      = "nats"     // plain NATS request/reply with a Go responder: the reference
	RemoteAgent     = "agent"    // remote.Pool -> NATS -> an agent's pool of one Python worker
	RemoteLocalPool = "pool1w"   // the agent's pool, called locally: bridge.Pool of one worker
	RemoteNATSPool  = "natspool" // a NATS responder calling that pool: the floor of a remote call
)

// The languages drivers are written in.
const (
	DriverGo     = "go"     // bench/driver, run as `benchrun drive`
	DriverC      = "c"      // bench/children/raw_echo.c, run as `raw_echo drive`
	DriverNode   = "node"   // bench/peers/node_fork.js
	DriverPython = "python" // bench/peers/python_mp.py
)

// System is one thing the benchmark measures.
type System struct {
	Name   string
	Group  string
	Lang   string            // the child's language: python, php, node, c
	Driver string            // the language of the measuring parent (Driver* constants)
	Params map[string]string // extra KEY=VALUE arguments for the driver
	Quick  bool              // part of `make bench-quick`
	// Pinned: latency (and the throughput beside it) is measured with parent and child on
	// one CPU (taskset -c 1). Pools and process-per-request run unpinned: they are about
	// using the machine.
	Pinned bool
	// Slow systems (a process per call) get fewer calls in flight and fewer samples.
	Slow bool
	// About says how the system is measured, for the report.
	About string
}

// Catalog lists every system in report order. The quick run measures the Quick ones;
// their names are the systems of bench/out/quick.json.
var Catalog = []System{
	{Name: "polyfork-python", Group: GroupPolyfork, Lang: "python", Driver: DriverGo, Quick: true, Pinned: true,
		About: "Go host (bridge.Start, Process.Call) <-> bench/children/echo.py through the polyfork Python client; 64 goroutines calling for throughput"},
	{Name: "polyfork-php", Group: GroupPolyfork, Lang: "php", Driver: DriverGo, Quick: true, Pinned: true,
		About: "Go host <-> bench/children/echo.php through the polyfork PHP client"},
	{Name: "polyfork-node", Group: GroupPolyfork, Lang: "node", Driver: DriverGo, Quick: true, Pinned: true,
		About: "Go host <-> bench/children/echo.js through the polyfork Node client"},
	{Name: "polyfork-python-fd", Group: GroupPolyfork, Lang: "python", Driver: DriverGo, Params: map[string]string{"channel": "fd"}, Pinned: true,
		About: "polyfork-python with the channel on descriptors of its own (bridge.WithChannel(bridge.ChannelFDs), polyfork -channel fd): two pipes on fds 3 and 4, the child's stdout relayed as a log"},
	{Name: "polyfork-php-fd", Group: GroupPolyfork, Lang: "php", Driver: DriverGo, Params: map[string]string{"channel": "fd"}, Pinned: true,
		About: "polyfork-php with the channel on descriptors of its own"},
	{Name: "polyfork-node-fd", Group: GroupPolyfork, Lang: "node", Driver: DriverGo, Params: map[string]string{"channel": "fd"}, Pinned: true,
		About: "polyfork-node with the channel on descriptors of its own"},
	{Name: "node-fork-json", Group: GroupPeer, Lang: "node", Driver: DriverNode, Params: map[string]string{"serialization": "json"}, Quick: true, Pinned: true,
		About: "Node parent, child_process.fork(..., {serialization: 'json'}), child.send / process.on('message'); 64 messages in flight for throughput"},
	{Name: "node-fork-advanced", Group: GroupPeer, Lang: "node", Driver: DriverNode, Params: map[string]string{"serialization": "advanced"}, Quick: true, Pinned: true,
		About: "the same with serialization: 'advanced' (the structured clone algorithm)"},
	{Name: "python-mp-pipe", Group: GroupPeer, Lang: "python", Driver: DriverPython, Params: map[string]string{"kind": "pipe"}, Quick: true, Pinned: true,
		About: "Python parent, multiprocessing.Pipe() to a multiprocessing.Process, conn.send / conn.recv; a sender thread keeps 64 in flight for throughput"},
	{Name: "python-ppe", Group: GroupPeer, Lang: "python", Driver: DriverPython, Params: map[string]string{"kind": "ppe"}, Quick: true, Pinned: true,
		About: "Python parent, ProcessPoolExecutor(max_workers=1).submit(echo, s).result(); 64 futures in flight for throughput"},
	{Name: "raw-pipe", Group: GroupLimit, Lang: "c", Driver: DriverC, Params: map[string]string{"transport": "pipe"}, Quick: true, Pinned: true,
		About: "both sides in C (bench/children/raw_echo.c): a 4-byte length and the bytes over the child's stdin and stdout pipes (default 64 KiB buffers), no serialization; a writer thread keeps 64 in flight for throughput"},
	{Name: "raw-pipe-1m", Group: GroupLimit, Lang: "c", Driver: DriverC, Params: map[string]string{"transport": "pipe1m"}, Pinned: true,
		About: "raw-pipe with both pipes grown to 1 MiB (F_SETPIPE_SZ), as bridge.Start does"},
	{Name: "raw-socketpair", Group: GroupLimit, Lang: "c", Driver: DriverC, Params: map[string]string{"transport": "socketpair"}, Pinned: true,
		About: "raw-pipe over one AF_UNIX stream socketpair as the child's stdin and stdout"},
	{Name: "raw-pipe-go", Group: GroupLimit, Lang: "c", Driver: DriverGo, Pinned: true,
		About: "a Go parent (os.File pipes through the runtime poller, bufio reads) driving the C echo child: the limit for any Go host"},
	{Name: "bare-python", Group: GroupBare, Lang: "python", Driver: DriverGo, Quick: true, Pinned: true,
		About: "minimal Go parent (vmihailenco/msgpack, no ids) <-> bench/children/bare.py (sys.stdin.buffer.read, msgpack.unpackb/packb, sys.stdout.buffer write and flush)"},
	{Name: "bare-php", Group: GroupBare, Lang: "php", Driver: DriverGo, Quick: true, Pinned: true,
		About: "minimal Go parent <-> bench/children/bare.php (stream_get_contents, msgpack_unpack/msgpack_pack, fwrite)"},
	{Name: "bare-node", Group: GroupBare, Lang: "node", Driver: DriverGo, Quick: true, Pinned: true,
		About: "minimal Go parent <-> bench/children/bare.js (stdin 'data', msgpackr unpack/pack, one fs.writeSync for all the answers to one chunk)"},
	{Name: "polyfork-pool-python", Group: GroupPool, Lang: "python", Driver: DriverGo, Params: map[string]string{"workers": "2"}, Quick: true,
		About: "bridge.NewPool(WithWorkers(2)) of echo.py with the default options (each worker pipelines with an adaptive window), Pool.Call from 64 goroutines, unpinned"},
	{Name: "polyfork-pool-php", Group: GroupPool, Lang: "php", Driver: DriverGo, Params: map[string]string{"workers": "2"},
		About: "the same default pool of echo.php"},
	{Name: "polyfork-pool-node", Group: GroupPool, Lang: "node", Driver: DriverGo, Params: map[string]string{"workers": "2"},
		About: "the same default pool of echo.js"},
	{Name: "polyfork-pool-python-k32", Group: GroupPool, Lang: "python", Driver: DriverGo, Params: map[string]string{"workers": "2", "concurrency": "32"},
		About: "the pool of echo.py with WithConcurrency(32): a fixed window of up to 32 calls per worker"},
	{Name: MixedDefault, Group: GroupPool, Lang: "python", Driver: DriverGo, Params: map[string]string{"workers": "2", "mix": "1"},
		About: "mixed workload: the default pool of 2 echo.py workers, 64 goroutines calling, 99% quick 16 B echoes and 1% `sleep` calls that block the worker 50 ms; p50/p99 of the quick calls under that load, calls/s of all calls; unpinned"},
	{Name: MixedK1, Group: GroupPool, Lang: "python", Driver: DriverGo, Params: map[string]string{"workers": "2", "mix": "1", "concurrency": "1"},
		About: "the mixed workload on the pool with WithConcurrency(1): one call per worker at a time"},
	{Name: "polyfork-pool-python-mixed-k32", Group: GroupPool, Lang: "python", Driver: DriverGo, Params: map[string]string{"workers": "2", "mix": "1", "concurrency": "32"},
		About: "the mixed workload on the pool with WithConcurrency(32): a fixed window of 32 calls per worker"},
	{Name: HostCostPF, Group: GroupHostCost, Lang: "python", Driver: DriverGo, Params: map[string]string{"kind": "polyfork"}, Pinned: true,
		About: "the Go host's cost of one call, one in flight, 16 B, parent and child on one CPU: host CPU time (getrusage RUSAGE_SELF user+system) over sequential Process.Call to echo.py, divided by the calls; goroutine wake-ups (waiting -> runnable) counted in a runtime/trace of 2000 more calls"},
	{Name: HostCostBare, Group: GroupHostCost, Lang: "python", Driver: DriverGo, Params: map[string]string{"kind": "bare"}, Pinned: true,
		About: "the same for the bare exchange (bare-python's minimal Go parent and bare.py): the floor"},
	{Name: "cluster-node-single", Group: GroupCluster, Lang: "node", Driver: DriverGo, Pinned: true,
		Params: map[string]string{"server": "node-single"},
		About:  "one Node process, http.createServer(handler).listen(port), the handler of bench/peers/node_http.js (echo the body, X-Pid); a Go load generator posting the payload, sequentially for latency and on 64 keep-alive connections for throughput"},
	{Name: "cluster-polyfork-1", Group: GroupCluster, Lang: "node", Driver: DriverGo, Pinned: true,
		Params: map[string]string{"server": "polyfork", "workers": "1"},
		About:  "polyfork cluster -workers 1 -channel none -- node node_http.js fd: the same handler, listen({fd: 3}) on the socket polyfork binds"},
	{Name: "cluster-polyfork-2", Group: GroupCluster, Lang: "node", Driver: DriverGo, Pinned: true,
		Params: map[string]string{"server": "polyfork", "workers": "2"},
		About:  "polyfork cluster -workers 2: two such workers on one shared socket (one accept queue)"},
	{Name: "cluster-node-2", Group: GroupCluster, Lang: "node", Driver: DriverGo, Pinned: true,
		Params: map[string]string{"server": "node-cluster", "workers": "2"},
		About:  "Node's own cluster with two workers and its default scheduling (the primary accepts and passes connections round-robin): the anchor"},
	{Name: "cluster-polyfork-2-close", Group: GroupCluster, Lang: "node", Driver: DriverGo, Pinned: true,
		Params: map[string]string{"server": "polyfork", "workers": "2", "conn": "close"},
		About:  "cluster-polyfork-2 with a new connection per request (Connection: close), so that every request is an accept"},
	{Name: "cluster-polyfork-2-reuseport-close", Group: GroupCluster, Lang: "node", Driver: DriverGo, Pinned: true,
		Params: map[string]string{"server": "polyfork", "workers": "2", "mode": "reuseport", "conn": "close"},
		About:  "the same with -listen-mode reuseport: one SO_REUSEPORT socket per worker, spread by the kernel's hash"},
	{Name: "cluster-node-2-close", Group: GroupCluster, Lang: "node", Driver: DriverGo, Pinned: true,
		Params: map[string]string{"server": "node-cluster", "workers": "2", "conn": "close"},
		About:  "Node's cluster with a new connection per request"},
	{Name: "nats-reqrep", Group: GroupRemote, Lang: "python", Driver: DriverGo, Params: map[string]string{"kind": RemoteNATS, "conc": "32"}, Pinned: true,
		About: "plain NATS request/reply of the payload: nats.Conn.Request to a Go responder that answers with the request's bytes, through a nats-server in the driver's process on loopback (no worker: the reference for remote calls); 32 in flight"},
	{Name: "nats-reqrep-c1", Group: GroupRemote, Lang: "python", Driver: DriverGo, Params: map[string]string{"kind": RemoteNATS, "conc": "1"}, Pinned: true,
		About: "nats-reqrep with 1 call in flight"},
	{Name: "remote-python", Group: GroupRemote, Lang: "python", Driver: DriverGo, Params: map[string]string{"kind": RemoteAgent, "conc": "32"}, Pinned: true,
		About: "remote.Pool.Call -> nats-server (in the driver's process, loopback) -> remote.NewAgent (in the driver's process, its own connection) -> bridge.Pool of one echo.py worker with Concurrency(32); 32 in flight"},
	{Name: "remote-python-c1", Group: GroupRemote, Lang: "python", Driver: DriverGo, Params: map[string]string{"kind": RemoteAgent, "conc": "1"}, Pinned: true,
		About: "remote-python with 1 call in flight"},
	{Name: "nats-pool-python", Group: GroupRemote, Lang: "python", Driver: DriverGo, Params: map[string]string{"kind": RemoteNATSPool, "conc": "32"}, Pinned: true,
		About: "the floor of a remote call: a NATS responder whose callback calls pool-python-1w's pool with the request's msgpack and responds with the result's (no headers, no deadline, no heartbeat, no retries); 32 in flight"},
	{Name: "nats-pool-python-c1", Group: GroupRemote, Lang: "python", Driver: DriverGo, Params: map[string]string{"kind": RemoteNATSPool, "conc": "1"}, Pinned: true,
		About: "nats-pool-python with 1 call in flight"},
	{Name: "pool-python-1w", Group: GroupRemote, Lang: "python", Driver: DriverGo, Params: map[string]string{"kind": RemoteLocalPool, "conc": "32"}, Pinned: true,
		About: "the agent's pool called locally: bridge.NewPool of one echo.py worker with Concurrency(32), no NATS; 32 in flight"},
	{Name: "pool-python-1w-c1", Group: GroupRemote, Lang: "python", Driver: DriverGo, Params: map[string]string{"kind": RemoteLocalPool, "conc": "1"}, Pinned: true,
		About: "pool-python-1w with 1 call in flight"},
	{Name: "spawn-python", Group: GroupSpawn, Lang: "python", Driver: DriverGo, Slow: true,
		About: "the seed's /get-sum pattern: bridge.Start of echo.py, one Call, Close, per request; 4 at once for throughput, unpinned"},
}

// QuickSystems are the systems of bench/out/quick.json, in catalog order.
func QuickSystems() []System {
	var out []System
	for _, s := range Catalog {
		if s.Quick {
			out = append(out, s)
		}
	}
	return out
}

// Lookup returns the catalog's system called name.
func Lookup(name string) (System, bool) {
	for _, s := range Catalog {
		if s.Name == name {
			return s, true
		}
	}
	return System{}, false
}
