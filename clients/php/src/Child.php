<?php

declare(strict_types=1);

namespace Polyfork;

use Polyfork\Codec\Encoder;
use Polyfork\Exception\CancelledError;
use Polyfork\Exception\ConnectionClosed;
use Polyfork\Exception\EncodingFailed;
use Polyfork\Exception\ProtocolError;
use Polyfork\Exception\RemoteError;
use Polyfork\Exception\StartupError;
use Polyfork\Exception\UnsupportedValue;
use Polyfork\Frame\FrameReader;
use Polyfork\Frame\FrameWriter;
use Polyfork\Io\ChannelFds;
use Polyfork\Io\Descriptors;
use Polyfork\Io\StdoutGuard;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Notification;
use Polyfork\Message\Request;
use Polyfork\Message\Response;

/**
 * This process's end of the polyfork channel: the instance API behind the Polyfork facade.
 *
 * PHP runs one thing at a time, so everything happens on the caller's stack: run() reads a
 * frame, runs its handler to completion, writes the response, and reads the next. While a
 * handler waits in call() for the host, requests and notifications that arrive meanwhile are
 * handled right there (nested), so the host may call back into the child. A handler that
 * works for a long time polls cancelled(); frames read by that poll wait in a queue.
 *
 * When the host keeps several calls in flight, the answers of quick handlers are queued and
 * written together once nothing more of the host's is buffered (see respond(), $quickNs,
 * $maxQueuedNs); anything that may wait or write (a handler not known to be quick, a
 * listener, a read from the channel, a poll, a send) writes them first, in order.
 */
final class Child
{
    /** The wire protocol version spoken (SPEC 5). */
    public const PROTOCOL = 1;

    /** This library's version (also the "version" of composer.json). */
    public const VERSION = '0.2.0';

    /** The library name and version sent in `$ready`. */
    public const LIB = 'polyfork-php/' . self::VERSION;

    /** The maximum frame size when POLYFORK_MAX_FRAME_SIZE is not set: 64 MiB (SPEC 2). */
    public const DEFAULT_MAX_FRAME_SIZE = 67_108_864;

    /** The largest frame a uint32 length prefix can announce (SPEC 2). */
    private const MAX_LENGTH_PREFIX = 0xffffffff;

    /** The maximum number of values in one frame when POLYFORK_MAX_VALUES is not set (SPEC 3). */
    public const DEFAULT_MAX_VALUES = Codec\Decoder::MAX_VALUES;

    /** The least POLYFORK_MAX_VALUES accepted: the `$ready` message alone holds 13 values. */
    public const MIN_MAX_VALUES = 16;

    /**
     * Default of $quickNs: a handler that last ran for less than 20 us counts as quick, and
     * answers already queued may wait for it to go out together with its own.
     */
    public const QUICK_NS = 20_000;

    /**
     * Default of $maxQueuedNs: the longest (200 us) a queued answer waits before the next
     * handler starts without it.
     */
    public const MAX_QUEUED_NS = 200_000;

    private readonly FrameReader $reader;
    private readonly FrameWriter $writer;
    private readonly MessageCodec $codec;

    /** @var resource the stream frames arrive on */
    private $in;

    /** @var array<int, array{resource, callable}> streams watched by run(), by key */
    private array $watched = [];
    private int $nextWatch = 0;

    /** @var array<string, callable> */
    private array $handlers = [];

    /** @var array<string, array<int, callable>> */
    private array $listeners = [];
    private int $nextListener = 0;

    /** @var list<Request|Response|Notification|ProtocolError> read ahead, not yet dispatched */
    private array $queue = [];

    /** @var array<int, true> ids of queued requests */
    private array $queued = [];

    /**
     * @var array<int|string, true> ids of the requests whose handlers run, innermost last (a
     *                       handler that calls the host can be asked to run another
     *                       meanwhile); a uint16 or uint32 id that the lane in run() took in
     *                       its shortest form is there as those bytes (see idOf(), inFlight())
     */
    private array $running = [];

    /** @var array<int, true> ids of in-flight requests the host cancelled */
    private array $cancelled = [];

    /** @var array<int, string> method of each call in flight, by id */
    private array $calls = [];

    /** @var array<int, Response> responses to calls in flight */
    private array $responses = [];

    /** @var array<string, int> how long (ns) each method's handler last ran, when measured */
    private array $took = [];

    /**
     * The large string parameter of the request just decoded, when it arrived as a `str`
     * (see decodeWithTail()); serve() takes it for that request at once.
     */
    private ?string $text = null;

    /** hrtime(true) when the oldest answer still queued in the writer was queued; 0: none. */
    private int $queuedAt = 0;

    /**
     * Writes the queued answers: the reader's $beforeRead while answers are queued, so that
     * they go out before it waits for the host (who may send nothing more until it has
     * them). It holds the Child weakly: no cycle through the reader.
     */
    private readonly \Closure $flushQueued;

    private int $nextId = 1;
    private bool $readySent = false;
    private bool $stopping = false;
    private bool $closed = false;
    private ?ProtocolError $failure = null;

    /**
     * No handler that returns sooner than this (in nanoseconds, on the monotonic clock, which
     * a forked copy shares) can have forked: pcntl_fork() alone takes 170 us in the parent
     * and 210 us in the copy of a bare PHP CLI on a 2-CPU VM, and it grows with the process.
     */
    private const FORK_NS = 10_000;

    /** The worker's pid: in a pcntl_fork()ed copy getmypid() differs (see exitForkedCopy()). */
    private readonly int $pid;

    /**
     * @param resource $in           the stream frames arrive on
     * @param resource $out          the stream frames are written to
     * @param int      $maxFrameSize the maximum frame size in both directions
     * @param int      $quickNs      answers queued under load (see respond()) wait only for
     *                               handlers that last ran for less than this many ns
     * @param int      $maxQueuedNs  ... and only while the oldest of them waited less than this;
     *                               0 writes every answer at once (no queueing)
     * @param int      $maxValues    the maximum number of values in one frame, both ways
     */
    public function __construct(
        $in,
        $out,
        int $maxFrameSize = self::DEFAULT_MAX_FRAME_SIZE,
        private readonly int $quickNs = self::QUICK_NS,
        private readonly int $maxQueuedNs = self::MAX_QUEUED_NS,
        int $maxValues = self::DEFAULT_MAX_VALUES,
    ) {
        if ($maxFrameSize < 1) {
            throw new \InvalidArgumentException(sprintf('the maximum frame size must be at least 1 byte, got %d', $maxFrameSize));
        }
        if ($maxValues < self::MIN_MAX_VALUES) {
            throw new \InvalidArgumentException(sprintf('the maximum number of values must be at least %d, got %d', self::MIN_MAX_VALUES, $maxValues));
        }
        $maxFrameSize = min($maxFrameSize, self::MAX_LENGTH_PREFIX); // what a length prefix can say
        $this->in = $in;
        // A call whose one parameter is a large string gets it straight from the stream, not as
        // a copy out of the body (see FrameReader, on the Zend allocator).
        $this->reader = new FrameReader($in, $maxFrameSize, MessageCodec::tailAt(...));
        $this->writer = new FrameWriter($out, $maxFrameSize);
        $this->codec = new MessageCodec($maxValues);
        $this->pid = getmypid();
        $self = \WeakReference::create($this);
        $this->flushQueued = static function () use ($self): void {
            $self->get()?->flush();
        };
    }

    /** The extensions fromEnvironment() requires, each with its Debian package. */
    private const REQUIRED_EXTENSIONS = ['msgpack' => 'php-msgpack', 'mbstring' => 'php-mbstring', 'ctype' => 'php-common'];

    /**
     * The child of a polyfork host, set up from its environment (SPEC 1):
     *
     * - the channel: the descriptors of POLYFORK_CHANNEL_FDS when it is set (see
     *   Io\ChannelFds; stdin, stdout and output buffering are then left alone), else stdin
     *   and a private copy of stdout, with stdout itself moved to stderr (see StdoutGuard);
     * - the maximum frame size from POLYFORK_MAX_FRAME_SIZE (64 MiB when unset) and the
     *   maximum number of values in a frame from POLYFORK_MAX_VALUES (4194304 when unset);
     * - POLYFORK_PHP_BATCH=0 writes every answer at once ($maxQueuedNs 0).
     *
     * @throws StartupError when one of those variables has a bad value, or names a
     *                      descriptor that is not open, or when a PHP extension the library
     *                      needs (msgpack, mbstring, ctype) is not loaded
     */
    public static function fromEnvironment(int $quickNs = self::QUICK_NS, int $maxQueuedNs = self::MAX_QUEUED_NS): self
    {
        // Before anything touches stdout: a missing extension otherwise ends the script with a
        // fatal error ('Class "MessagePack" not found') that PHP may display on stdout, where
        // the host reads it as a broken frame.
        foreach (self::REQUIRED_EXTENSIONS as $extension => $package) {
            if (!\extension_loaded($extension)) {
                throw StartupError::missingExtension($extension, $package);
            }
        }
        $maxFrameSize = self::limit('POLYFORK_MAX_FRAME_SIZE', self::DEFAULT_MAX_FRAME_SIZE, 1, 'a positive number of bytes');
        $maxValues = self::limit('POLYFORK_MAX_VALUES', self::DEFAULT_MAX_VALUES, self::MIN_MAX_VALUES, sprintf('a number of values of at least %d', self::MIN_MAX_VALUES));
        if (getenv('POLYFORK_PHP_BATCH') === '0') {
            $maxQueuedNs = 0;
        }
        $channel = ChannelFds::open();
        if ($channel !== null) {
            [$in, $out] = $channel;
        } else {
            $in = Descriptors::take(0, 'rb');
            if ($in === null) {
                throw new \RuntimeException('polyfork: cannot open stdin');
            }
            Descriptors::nullStdin();
            $out = StdoutGuard::install();
        }
        return new self($in, $out, $maxFrameSize, $quickNs, $maxQueuedNs, $maxValues);
    }

    /**
     * The former name of fromEnvironment(), which also finds a channel on descriptors.
     *
     * @throws StartupError
     */
    public static function fromStdio(int $quickNs = self::QUICK_NS, int $maxQueuedNs = self::MAX_QUEUED_NS): self
    {
        return self::fromEnvironment($quickNs, $maxQueuedNs);
    }

    /**
     * The integer in the environment variable $name, $default when it is unset or empty.
     *
     * @throws StartupError when it is not an integer of at least $min
     */
    private static function limit(string $name, int $default, int $min, string $what): int
    {
        $value = getenv($name);
        if ($value === false || $value === '') {
            return $default;
        }
        if (!ctype_digit($value) || \strlen($value) > 18 || (int) $value < $min) {
            throw StartupError::badVariable($name, $value, $what);
        }
        return (int) $value;
    }

    /**
     * Calls $listener for each notification $name from the host: for `message` with the sent
     * value, for other names with the params as arguments. Returns a function that removes
     * the listener. Names starting with `$` are the protocol's and never reach listeners.
     */
    public function on(string $name, callable $listener): \Closure
    {
        $key = $this->nextListener++;
        $this->listeners[$name][$key] = $listener;
        return function () use ($name, $key): void {
            unset($this->listeners[$name][$key]);
        };
    }

    /** Removes $listener from notification $name (as the Python client's off()). */
    public function off(string $name, callable $listener): void
    {
        foreach ($this->listeners[$name] ?? [] as $key => $registered) {
            if ($registered === $listener) {
                unset($this->listeners[$name][$key]);
            }
        }
    }

    /**
     * Calls $onReadable($stream) whenever $stream has something to read (or, for a listening
     * socket, a connection to accept) while run() waits for the next frame, so a worker can
     * serve a socket and the host in one loop. Returns a function that stops watching it.
     *
     * Only run() watches, between frames: not while a handler runs or waits in call(). The
     * callback runs like a listener: queued answers are written first, and a Throwable it
     * throws is written to stderr and the loop goes on. Another process may take a shared
     * socket's connection first: accept with a timeout of 0 and return when there is none.
     *
     * @param resource $stream
     */
    public function watch($stream, callable $onReadable): \Closure
    {
        $key = $this->nextWatch++;
        $this->watched[$key] = [$stream, $onReadable];
        return function () use ($key): void {
            unset($this->watched[$key]);
        };
    }

    /**
     * Serves requests for $method with $handler: it gets the params as arguments, its return
     * value is the result, and a Throwable it throws becomes the error (type: class name,
     * message, traceback). Replaces an earlier handler for the same method.
     */
    public function handle(string $method, callable $handler): void
    {
        if (!mb_check_encoding($method, 'UTF-8')) {
            throw new \InvalidArgumentException(sprintf(
                'handle(): the method name "%s" is not valid UTF-8, so no host can call it (SPEC 3)',
                preg_replace_callback('/[^\x20-\x7e]/', fn (array $b): string => sprintf('\\x%02x', \ord($b[0])), $method)
            ));
        }
        $this->handlers[$method] = $handler;
    }

    /**
     * Sends $value to the host's message handler (the notification `message` `[value]`).
     *
     * @throws EncodingFailed   when $value cannot be encoded or is too large (nothing is sent)
     * @throws ConnectionClosed when the host no longer reads
     * @throws ProtocolError    when the host broke the protocol before (the session is over)
     */
    public function send(mixed $value): void
    {
        $this->notify('message', $value);
    }

    /**
     * Sends the notification $name with $params to the host.
     *
     * @throws EncodingFailed|ConnectionClosed|ProtocolError
     */
    public function notify(string $name, mixed ...$params): void
    {
        $this->write($this->codec->notification($name, array_values($params)));
    }

    /**
     * Calls the host's handler $method with $params and blocks until it answers; requests
     * from the host that arrive meanwhile are served. Returns the result.
     *
     * @throws RemoteError      when the host's handler failed (or has no such method)
     * @throws UnsupportedValue when the result cannot be held exactly in PHP
     * @throws EncodingFailed   when the params cannot be encoded (nothing is sent)
     * @throws ConnectionClosed when the host closes the channel before answering
     * @throws ProtocolError    when the host breaks the protocol meanwhile
     */
    public function call(string $method, mixed ...$params): mixed
    {
        $id = $this->allocateId();
        $this->write($this->codec->request($id, $method, array_values($params)));
        $this->calls[$id] = $method;
        try {
            while (!isset($this->responses[$id])) {
                $message = $this->next();
                if ($message === null) {
                    throw ConnectionClosed::whileWaiting($method, $id);
                }
                $this->dispatch($message);
            }
        } finally {
            unset($this->calls[$id]);
        }
        $response = $this->responses[$id];
        unset($this->responses[$id]);
        if ($response->unsupported !== null) {
            throw $response->unsupported;
        }
        if ($response->error !== null) {
            throw RemoteError::fromErrorMap($response->error);
        }
        return $response->result;
    }

    /**
     * Serves the host until it sends `$stop` or closes the channel (end of file), then
     * returns (the script then ends with status 0). Sends `$ready` first if nothing was sent
     * yet. Streams given to watch() are served while it waits for the next frame.
     *
     * @throws ProtocolError when the host breaks the protocol (the session is over)
     */
    public function run(): void
    {
        try {
            $this->ready();
            $reader = $this->reader; // (readonly: a local saves a property read per frame)
            while (!$this->stopping) {
                if (!$this->queue && !$this->closed) { // (`=== []` would call zend_is_identical())
                    if ($this->watched && !$reader->hasFrame() && !$this->waitForFrame()) {
                        continue; // a watched stream was served; the channel has nothing yet
                    }
                    // next(), inlined: this loop runs once per frame.
                    $frame = $reader->read();
                    if ($frame === null) {
                        $this->closed = true;
                        break;
                    }
                    // The commonest request, served straight from its bytes: [0, id, fixstr
                    // method, [str]], for a method with a handler, where the str (fixstr, str8
                    // or str16) ends the frame. It skips MessageCodec::decode() and the Request
                    // object: without opcache every PHP operation costs 100 to 300
                    // instructions, and this saves a quarter of the client's per call (README,
                    // Performance). The str goes to answer() as the request's $text too: a
                    // handler that returns it as it came sends it back without a UTF-8 check.
                    // Anything else, or anything unusual about it, takes the general path
                    // below, which checks and answers it in full.
                    if (\str_starts_with($frame, "\x94\x00")) {
                        $c = \ord($frame[2] ?? "\xc1");
                        $at = $c < 0x80 ? 3 : (MessageCodec::METHOD_AFTER_UINT[$c] ?? 0); // 0: no id in range
                        $m = \ord($frame[$at] ?? "\x00");
                        $p = $at + 1 + ($m & 0x1f); // the params' header, after a fixstr method
                        // ($m ^ 0xa0) < 0x20: $m is a fixstr (0xa0-0xbf); cheaper than
                        // ($m & 0xe0) === 0xa0, as `===` on ints calls a function without opcache.
                        if (($m ^ 0xa0) < 0x20 && ($frame[$p] ?? '') === "\x91") {
                            $m = \ord($frame[$p + 1] ?? "\x00");
                            if (($m ^ 0xa0) < 0x20) {
                                $from = $p + 2;
                                $size = $m & 0x1f;
                            } elseif ($m === 0xd9) {
                                $from = $p + 3;
                                $size = \ord($frame[$p + 2] ?? "\x00");
                            } elseif ($m === 0xda) {
                                $from = $p + 4;
                                $size = \ord($frame[$p + 2] ?? "\x00") << 8 | \ord($frame[$p + 3] ?? "\x00");
                            } else {
                                $from = $size = -1;
                            }
                            // (A frame read with a $tail ends where its str starts: never equal.)
                            if (\strlen($frame) === $from + $size) {
                                $method = \substr($frame, $at + 1, $p - $at - 1);
                                // A method with a handler is valid UTF-8 (handle() checked it).
                                $handler = $this->handlers[$method] ?? null;
                                if ($at < 5) {
                                    $id = $at === 3 ? $c : \ord($frame[3]);
                                } else {
                                    // A uint16 or uint32 id in its shortest form (as every
                                    // encoder sends it; these strings are never numeric)
                                    // stays those bytes: the request runs with them as its
                                    // key in $running, they go back in the answer's head, and
                                    // the int is decoded only when something needs it
                                    // (idOf()). unpack() and pack() cost ~780 and ~735
                                    // instructions, a substr() ~335. (strcmp(): `<` on two
                                    // strings first tries them as numbers, ~45 more.)
                                    $id = \substr($frame, 2, $at - 2);
                                    if (\strcmp($id, $at < 6 ? "\xcd\x01\x00" : "\xce\x00\x01\x00\x00") < 0) {
                                        $id = \unpack($at === 5 ? 'n' : 'N', $frame, 3)[1];
                                    }
                                }
                                if ($handler !== null && (!$this->cancelled || !isset($this->cancelled[\is_string($id) ? self::idOf($id) : $id]))) {
                                    $this->answer($id, $method, $handler, null, \substr($frame, $from));
                                    continue;
                                }
                            }
                        }
                    }
                    $message = $reader->tail === null ? $this->codec->decode($frame) : $this->decodeWithTail($frame);
                    $frame = null; // a large body should not live on while its request runs
                } else {
                    $message = $this->next();
                }
                if ($message instanceof Request) {
                    $this->serve($message);
                    $message = null; // nor should its params live on while the next frame is read
                } elseif ($message === null) {
                    break;
                } else {
                    $this->dispatch($message);
                }
            }
            if ($this->stopping) {
                $this->afterStop();
            }
            $this->flush();
        } catch (ConnectionClosed $e) {
            fwrite(STDERR, 'polyfork: ' . $e->getMessage() . "; stopping\n");
        } catch (ProtocolError $e) {
            $this->failure ??= $e; // from the inlined read: the session is over
            // Answers finished before the bad frame arrived still go out, as they would have
            // without the queueing.
            try {
                $this->flush();
            } catch (ConnectionClosed) {
            }
            throw $e;
        }
    }

    /**
     * Waits until the channel or a watched stream is readable, and runs the callbacks of the
     * watched ones. True when the channel is readable (a read will not block long).
     */
    private function waitForFrame(): bool
    {
        $this->flush(); // about to block
        $read = [-1 => $this->in];
        foreach ($this->watched as $key => [$stream]) {
            $read[$key] = $stream;
        }
        $none = null;
        if (@stream_select($read, $none, $none, null) === false) {
            return false; // interrupted by a signal: look again
        }
        $channel = false;
        foreach ($read as $key => $stream) {
            if ($key === -1) {
                $channel = true;
            } elseif (isset($this->watched[$key])) {
                try {
                    ($this->watched[$key][1])($stream);
                } catch (\Throwable $e) {
                    if ($this->failure !== null) {
                        throw $this->failure;
                    }
                    fwrite(STDERR, sprintf("polyfork: callback watching a stream threw %s\n", (string) $e));
                }
                if (getmypid() !== $this->pid) {
                    $this->exitForkedCopy(null);
                }
            }
        }
        return $channel;
    }

    /**
     * After `$stop`: what has arrived by now is still handled (SPEC 6). Requests are answered
     * `Stopping` without running, messages and notifications reach their listeners. Frames
     * that have not arrived yet are not waited for.
     *
     * @throws ProtocolError when one of them breaks the protocol
     */
    private function afterStop(): void
    {
        while (true) {
            if ($this->queue !== []) {
                $message = $this->next();
            } else {
                $frame = $this->closed ? null : $this->reader->poll(0.0);
                if ($frame === null) {
                    $this->closed = true;
                    return;
                }
                if ($frame === false) {
                    return;
                }
                $message = $this->codec->decode($frame);
            }
            $this->dispatch($message);
        }
    }

    /**
     * True when the host sent `$cancel` for the request whose handler is running. Reads the
     * frames that have arrived without blocking, or waiting up to $wait seconds for a
     * `$cancel` (a cancellable sleep); other frames are kept for later. Also true once the
     * host broke the protocol (the session is over). Always false outside a handler.
     *
     * @throws ProtocolError when the host already broke the protocol
     */
    public function cancelled(float $wait = 0.0): bool
    {
        if (getmypid() !== $this->pid) {
            throw ConnectionClosed::inForkedCopy(getmypid(), $this->pid); // its frames are the worker's
        }
        $this->flush(); // a handler that takes this long should not hold back answers
        $id = array_key_last($this->running);
        if (\is_string($id)) {
            $id = self::idOf($id);
        }
        if ($id === null) {
            if ($wait > 0) {
                usleep((int) ($wait * 1e6));
            }
            return false;
        }
        $deadline = hrtime(true) + (int) ($wait * 1e9);
        while (!isset($this->cancelled[$id])) {
            if ($this->failure !== null) {
                return true; // the session is over: everything in flight stops (SPEC 6)
            }
            $left = ($deadline - hrtime(true)) / 1e9;
            if ($this->closed) {
                if ($left > 0) {
                    usleep((int) ($left * 1e6));
                }
                return false;
            }
            try {
                $frame = $this->reader->poll(max(0.0, $left));
            } catch (ProtocolError $e) {
                $this->queue[] = $e;
                $this->failure = $e;
                continue;
            }
            if ($frame === false) {
                return false;
            }
            if ($frame === null) {
                $this->closed = true;
                continue;
            }
            try {
                $message = $this->codec->decode($frame);
            } catch (ProtocolError $e) {
                $this->queue[] = $e;
                $this->failure = $e;
                continue;
            }
            if ($message instanceof Notification && $message->method === '$cancel') {
                $this->cancel($message);
                continue;
            }
            if ($message instanceof Request) {
                if ($this->inFlight($message->id)) {
                    $this->failure = self::duplicate($message);
                    $this->queue[] = $this->failure;
                    continue;
                }
                $this->queued[$message->id] = true;
            }
            $this->queue[] = $message;
        }
        return true;
    }

    /**
     * Throws CancelledError when the host cancelled the running request (see cancelled()).
     *
     * @throws CancelledError
     */
    public function throwIfCancelled(): void
    {
        if ($this->cancelled()) {
            $id = array_key_last($this->running);
            throw CancelledError::request(\is_string($id) ? self::idOf($id) : $id);
        }
    }

    /** Sends `$ready` unless already sent; run() and every outgoing frame do it first. */
    public function ready(): void
    {
        if ($this->readySent) {
            return;
        }
        $this->readySent = true;
        $this->writer->write($this->codec->notification('$ready', [[
            'protocol' => self::PROTOCOL,
            'lang' => 'php',
            'pid' => getmypid(),
            'lib' => self::LIB,
        ]]));
    }

    private function write(string $frame): void
    {
        if (getmypid() !== $this->pid) {
            throw ConnectionClosed::inForkedCopy(getmypid(), $this->pid);
        }
        if ($this->failure !== null) {
            throw $this->failure; // the session is over: nothing more goes out
        }
        if (!$this->readySent) {
            $this->ready();
        }
        $this->writer->write($frame); // queued answers first
        $this->queuedAt = 0;
    }

    /**
     * A handler, listener or watch callback forked (pcntl_fork()) and the copy came back here
     * instead of ending: the copy must not answer (a second answer to the request) nor read
     * the channel (it would take requests the worker never sees). One line, then exit(1);
     * the answers the worker had queued are the worker's to write (see FrameWriter).
     */
    private function exitForkedCopy(?string $name): never
    {
        fwrite(STDERR, sprintf(
            "polyfork: process %d is a fork of the worker (pid %d) and came back to polyfork's serving loop%s; the copy cannot answer the host: exiting it with status 1. End a forked copy with exit()\n",
            getmypid(),
            $this->pid,
            $name === null ? ' (from a watch callback)' : sprintf(' (from "%s")', ErrorMap::cutName($name))
        ));
        exit(1);
    }

    /** Writes the answers queued by respond(), if any. */
    private function flush(): void
    {
        if ($this->queuedAt !== 0) {
            $this->queuedAt = 0;
            $this->writer->flush();
        }
    }

    /** The next message: read ahead first, else blocking on the channel; null at end of file. */
    private function next(): Request|Response|Notification|null
    {
        if ($this->queue !== []) {
            $message = array_shift($this->queue);
            if ($message instanceof ProtocolError) {
                throw $message;
            }
            return $message;
        }
        if ($this->closed) {
            return null;
        }
        try {
            $frame = $this->reader->read();
            if ($frame === null) {
                $this->closed = true;
                return null;
            }
            $message = $this->reader->tail === null ? $this->codec->decode($frame) : $this->decodeWithTail($frame);
            if ($message instanceof Request && $this->inFlight($message->id)) {
                throw self::duplicate($message);
            }
            return $message;
        } catch (ProtocolError $e) {
            $this->failure = $e;
            throw $e;
        }
    }

    /** True when request $id runs, or waits in the read-ahead queue, and is not answered yet. */
    private function inFlight(int $id): bool
    {
        return isset($this->running[$id]) || isset($this->queued[$id])
            || ($id > 0xff && $this->running && isset($this->running[$id < 0x10000 ? "\xcd" . \pack('n', $id) : "\xce" . \pack('N', $id)]));
    }

    /** The id whose shortest msgpack form, a uint16 or a uint32, is $bytes (see $running). */
    private static function idOf(string $bytes): int
    {
        return \unpack($bytes[0] === "\xcd" ? 'n' : 'N', $bytes, 1)[1];
    }

    /**
     * A request whose id is that of a request still in flight (running, or read and not yet
     * run): the host could not tell their answers apart, so it is a protocol error (SPEC 4.1).
     */
    private static function duplicate(Request $request): ProtocolError
    {
        return new ProtocolError(sprintf(
            'request id %d ("%s") is already in flight; ids must be unique among the requests in flight',
            $request->id,
            ErrorMap::cutName($request->method)
        ));
    }

    /**
     * Decodes the frame read() just returned with its trailing string (FrameReader::$tail).
     * A request's string that arrived as a `str` is also kept in $text, for serve(), which
     * follows at once (run() and call() serve a request as soon as it is decoded).
     */
    private function decodeWithTail(string $head): Request|Response|Notification
    {
        $tail = $this->reader->tail;
        $this->reader->tail = null; // the message is its only holder
        $message = $this->codec->decodeWithTail($head, $tail, $text);
        $this->text = $text && $message instanceof Request ? $tail : null;
        return $message;
    }

    private function dispatch(Request|Response|Notification $message): void
    {
        if ($message instanceof Request) {
            $this->serve($message);
        } elseif ($message instanceof Response) {
            if (isset($this->calls[$message->id])) {
                $this->responses[$message->id] = $message;
            }
            // Else: an answer to a call given up on, or never made: dropped (SPEC 4.1).
        } else {
            $this->notified($message);
        }
    }

    private function serve(Request $request): void
    {
        $text = $this->text; // this request's own: a request served inside its handler has its own
        if ($text !== null) {
            $this->text = null;
        }
        $id = $request->id;
        if ($this->queued) {
            unset($this->queued[$id]);
        }
        if ($this->stopping || $request->unsupported !== null || isset($this->cancelled[$id])) {
            $this->refuse($request);
            return;
        }
        $method = $request->method;
        $handler = $this->handlers[$method] ?? null;
        if ($handler === null) {
            $this->respond($id, ErrorMap::methodNotFound($method), null);
            return;
        }
        $this->answer($id, $method, $handler, $request->params, $text);
    }

    /**
     * Runs the handler of a request that is to run (not cancelled, not refused) and sends its
     * answer: the result, or the error it threw.
     *
     * @param int|string       $id      the request's id, or (the lane in run()) a uint16 or uint32
     *                                   id as its msgpack in its shortest form, as in $running
     * @param callable         $handler (not declared: checking that a value is `callable` costs
     *                                   ~180 instructions a call; handle() took it as one)
     * @param list<mixed>|null $params  the arguments; null: the one argument is $text (the lane
     *                                   in run(), which saves building an array and spreading it)
     * @param string|null      $text    the request's string parameter when it arrived as a `str`
     *                                   (the lane, decodeWithTail()): returned as it came, it goes
     *                                   back as a str without another UTF-8 check
     */
    private function answer(int|string $id, string $method, $handler, ?array $params, ?string $text = null): void
    {
        // Answers queued under load (see respond()) wait for this handler only when it was
        // quick last time and they have not waited long; else they go out first.
        $timed = $this->queuedAt > 0; // (hrtime() is positive; `> 0` costs less than `!== 0`)
        if ($timed) {
            $start = \hrtime(true);
            if (($this->took[$method] ?? PHP_INT_MAX) >= $this->quickNs || $start - $this->queuedAt >= $this->maxQueuedNs) {
                $this->flush();
            }
        }
        $this->running[$id] = true;
        try {
            $result = $params === null ? $handler($text) : $handler(...$params);
            $error = null;
        } catch (\Throwable $e) {
            if ($this->failure !== null) {
                throw $this->failure; // the session is over; do not answer
            }
            $result = null;
            $error = ErrorMap::fromThrowable($e);
        } finally {
            unset($this->running[$id]);
            if ($this->cancelled) {
                unset($this->cancelled[\is_string($id) ? self::idOf($id) : $id]);
            }
        }
        // Did the handler fork, and the copy return too? getmypid() is a system call (85 ns
        // here, 4% of a call under load); a handler timed in less than FORK_NS cannot have
        // forked, so the timed path asks only after a slower one.
        if ($timed) {
            $took = $this->took[$method] = \hrtime(true) - $start;
            if ($took >= self::FORK_NS && \getmypid() !== $this->pid) {
                $this->exitForkedCopy($method);
            }
        } elseif (\getmypid() !== $this->pid) {
            $this->exitForkedCopy($method);
        }
        if ($this->failure !== null) {
            throw $this->failure;
        }
        if ($error !== null) {
            $this->respond(\is_string($id) ? self::idOf($id) : $id, $error, null);
            return;
        }
        // respond(), inlined for a result (this runs once per request).
        if ($text !== null && $result === $text && \is_string($id) && ($n = \strlen($result)) < FrameWriter::JOIN_LIMIT) {
            // The commonest answer, built here rather than by the codec's stringResultHead()
            // (a call with its checks, ~700 instructions): the lane's str returned as it came,
            // for an id the lane kept as bytes. [1, id, nil, str]: a str that arrived as one
            // goes back without a UTF-8 check, as there, and the Child's codec always allows
            // a scalar result's 5 values (MIN_MAX_VALUES).
            $s = $n < 0x20 ? Encoder::BYTES[0xa0 | $n] : ($n < 0x100 ? "\xd9" . Encoder::BYTES[$n] : "\xda" . \pack('n', $n));
            $frame = "\x94\x01{$id}\xc0{$s}{$result}";
        } else {
            $head = \is_string($result) ? $this->codec->stringResultHead($id, $result, $text) : null;
            if ($head === null && \is_string($id)) {
                $id = self::idOf($id); // for the codec
            }
            try {
                if ($head === null) {
                    $frame = $this->codec->response($id, null, $result);
                } elseif (\strlen($result) < FrameWriter::JOIN_LIMIT) {
                    $frame = $head . $result;
                } else {
                    // A large string result goes out after its head, without a copy into one body.
                    $this->writer->writeSplit($head, $result); // queued answers first
                    $this->queuedAt = 0;
                    return;
                }
            } catch (EncodingFailed) {
                $this->respond(\is_string($id) ? self::idOf($id) : $id, null, $result); // answers with the error
                return;
            }
        }
        if ($this->reader->more && $this->maxQueuedNs !== 0) { // (false first with one call in flight)
            if ($this->queuedAt <= 0) {
                $this->queuedAt = \hrtime(true);
                $this->reader->beforeRead = $this->flushQueued;
            }
            $this->writer->queue($frame);
        } else {
            $this->writer->write($frame); // queued answers first
            $this->queuedAt = 0;
        }
    }

    /** Answers a request that is not run: cancelled while queued, after $stop, or undecodable. */
    private function refuse(Request $request): void
    {
        $id = $request->id;
        if (isset($this->cancelled[$id])) {
            unset($this->cancelled[$id]);
            $this->respond($id, ErrorMap::cancelled($id), null);
        } elseif ($this->stopping) {
            $this->respond($id, ErrorMap::stopping($id, $request->method), null);
        } else {
            $this->respond($id, ErrorMap::fromThrowable($request->unsupported), null);
        }
    }

    /**
     * Sends the response; a result that cannot be sent is answered with an error instead.
     * When more of the host's bytes have already arrived (it keeps several calls in flight),
     * the response is queued and goes out with the next ones in one write, at the latest
     * before the reader reads from the channel again ($flushQueued); a lone request is
     * answered at once.
     */
    private function respond(int $id, ?array $error, mixed $result): void
    {
        try {
            $frame = $this->codec->response($id, $error, $result);
            if ($this->maxQueuedNs !== 0 && $this->reader->more && $this->failure === null) {
                if ($this->queuedAt === 0) {
                    $this->queuedAt = \hrtime(true);
                    $this->reader->beforeRead = $this->flushQueued;
                }
                $this->writer->queue($frame);
            } else {
                $this->write($frame);
            }
        } catch (EncodingFailed $e) {
            $this->write($this->codec->response($id, str_starts_with($e->getMessage(), 'refusing to send')
                ? ErrorMap::protocolError($e->getMessage())
                : ErrorMap::fromThrowable($e), null));
        }
    }

    private function notified(Notification $note): void
    {
        $name = $note->method;
        if ($name !== '' && $name[0] === '$') {
            if ($name === '$cancel') {
                $this->cancel($note);
            } elseif ($name === '$stop') {
                $this->stopping = true;
            }
            return; // `$ready` from a host, or a `$` name from a later revision: ignored
        }
        if ($note->unsupported !== null) {
            fwrite(STDERR, sprintf("polyfork: dropped notification \"%s\": %s\n", $name, $note->unsupported->getMessage()));
            return;
        }
        $listeners = $this->listeners[$name] ?? [];
        if ($listeners === []) {
            return; // no listener: dropped (SPEC 4.3)
        }
        $this->flush(); // listeners may take long: queued answers go first
        if ($name === 'message' && \count($note->params) !== 1) {
            fwrite(STDERR, sprintf("polyfork: dropped a \"message\" notification with %d params instead of 1\n", \count($note->params)));
            return;
        }
        foreach ($listeners as $listener) {
            try {
                $name === 'message' ? $listener($note->params[0]) : $listener(...$note->params);
            } catch (\Throwable $e) {
                if ($this->failure !== null) {
                    throw $this->failure;
                }
                fwrite(STDERR, sprintf("polyfork: listener for \"%s\" threw %s\n", $name, (string) $e));
            }
            if (getmypid() !== $this->pid) {
                $this->exitForkedCopy($name);
            }
        }
    }

    private function cancel(Notification $note): void
    {
        $id = $note->params[0] ?? null;
        if (\is_int($id) && $this->inFlight($id)) {
            $this->cancelled[$id] = true;
        }
    }

    private function allocateId(): int
    {
        do {
            $id = $this->nextId;
            $this->nextId = $id === MessageCodec::MAX_ID ? 0 : $id + 1;
        } while (isset($this->calls[$id]));
        return $id;
    }
}
