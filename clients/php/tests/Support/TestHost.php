<?php

declare(strict_types=1);

namespace Polyfork\Tests\Support;

use Polyfork\Frame\FrameReader;
use Polyfork\Frame\FrameWriter;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Notification;
use Polyfork\Message\Request;
use Polyfork\Message\Response;

/**
 * A small polyfork host for tests: starts a real PHP child with proc_open (argv, no shell),
 * frames on its stdin/stdout, its stderr in a temporary file. Every read is bounded by a
 * hang guard (HANG_SECONDS): a child that never answers fails the test instead of hanging
 * it; it is not a timing assertion.
 *
 * With $channelFds the channel is on two pipes of its own (SPEC 1.1), the descriptors after
 * those in $passFds (3 and 4 when there are none), named in POLYFORK_CHANNEL_FDS; the
 * child's stdin is then /dev/null and its stdout a second log file (stdout()). With
 * $channelSocket it is one Unix socket passed as both (`3,3`).
 */
final class TestHost
{
    /** How long a read may block before the test is failed as hung. */
    public const HANG_SECONDS = 30.0;

    /** @var resource */
    private $process;
    /** @var resource */
    private $stdin;
    /** @var resource */
    private $stdout;
    private string $stderrFile;
    private ?string $stdoutFile = null;

    /** @var resource|null the host's end of the channel when it is one socket */
    private $socket = null;
    private FrameReader $reader;
    private FrameWriter $writer;
    private MessageCodec $codec;
    private int $nextId = 1;
    private ?int $exitCode = null;

    /** @var list<Notification> notifications received and not yet taken */
    public array $inbox = [];

    /** @var array<int, Response> responses received and not yet taken */
    private array $responses = [];

    /** @var array<int, string> raw bodies of the responses, by id */
    public array $rawResponses = [];

    /** @var array<string, callable> host-side handlers for the child's calls */
    public array $handlers = [];

    /** The child's `$ready` map. */
    public array $ready = [];

    /** The descriptors of the channel in the child, [r, w]; [0, 1] on stdio. */
    public readonly array $channel;

    /**
     * Starts `php $script` (POLYFORK_PHP, default php) and reads its `$ready`.
     *
     * @param array<string, string|null>  $env        environment variables to set (null: unset)
     * @param list<string>                $phpArgs    arguments for php before the script (e.g. -d)
     * @param bool                        $handshake  read and check `$ready` first
     * @param bool                        $channelFds the channel on descriptors of its own
     * @param array<int, resource|array>  $passFds    more descriptors for the child, by number
     *                                                (a stream, or a proc_open spec)
     * @param list<string>                $prefix     argv before php (e.g. a shell that sets
     *                                                LISTEN_PID=$$ and execs php)
     * @param bool                        $channelSocket the channel on one socket, both ways
     */
    public function __construct(
        string $script,
        array $env = [],
        array $phpArgs = [],
        bool $handshake = true,
        bool $channelFds = false,
        array $passFds = [],
        array $prefix = [],
        bool $channelSocket = false,
    ) {
        $php = getenv('POLYFORK_PHP') ?: 'php';
        $this->stderrFile = tempnam(sys_get_temp_dir(), 'polyfork-php-stderr-');
        $environment = getenv() + ['POLYFORK_PROTOCOL' => '1'];
        unset($environment['PYTHONUNBUFFERED'], $environment['POLYFORK_CHANNEL_FDS']);
        $spec = [2 => ['file', $this->stderrFile, 'w']] + $passFds;
        $theirs = null;
        if ($channelSocket) {
            $r = max([2, ...array_keys($passFds)]) + 1;
            [$mine, $theirs] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
            $this->socket = $mine;
            $this->channel = [$r, $r];
            $environment['POLYFORK_CHANNEL_FDS'] = $r . ',' . $r;
            $this->stdoutFile = tempnam(sys_get_temp_dir(), 'polyfork-php-stdout-');
            $spec += [0 => ['file', '/dev/null', 'r'], 1 => ['file', $this->stdoutFile, 'w'], $r => $theirs];
        } elseif ($channelFds) {
            $r = max([2, ...array_keys($passFds)]) + 1;
            $this->channel = [$r, $r + 1];
            $environment['POLYFORK_CHANNEL_FDS'] = $r . ',' . ($r + 1);
            $this->stdoutFile = tempnam(sys_get_temp_dir(), 'polyfork-php-stdout-');
            $spec += [0 => ['file', '/dev/null', 'r'], 1 => ['file', $this->stdoutFile, 'w'], $r => ['pipe', 'r'], $r + 1 => ['pipe', 'w']];
        } else {
            $this->channel = [0, 1];
            $spec += [0 => ['pipe', 'r'], 1 => ['pipe', 'w']];
        }
        foreach ($env as $k => $v) {
            if ($v === null) {
                unset($environment[$k]);
            } else {
                $environment[$k] = $v;
            }
        }
        ksort($spec);
        $process = proc_open(array_merge($prefix, [$php], $phpArgs, [$script]), $spec, $pipes, null, $environment);
        if ($process === false) {
            throw new \RuntimeException('cannot start ' . $php . ' ' . $script);
        }
        $this->process = $process;
        if ($theirs !== null) {
            fclose($theirs);
            $this->stdin = $this->stdout = $this->socket;
        } else {
            [$this->stdin, $this->stdout] = [$pipes[$this->channel[0]], $pipes[$this->channel[1]]];
        }
        $this->reader = new FrameReader($this->stdout, 1 << 30);
        $this->writer = new FrameWriter($this->stdin, 1 << 30);
        $this->codec = new MessageCodec();
        if ($handshake) {
            $first = $this->readMessage();
            if (!$first instanceof Notification || $first->method !== '$ready') {
                throw new \RuntimeException('first frame is not $ready: ' . json_encode($first) . "\nstderr:\n" . $this->stderr());
            }
            $this->ready = $first->params[0];
        }
    }

    /** The child's process id. */
    public function pid(): int
    {
        return proc_get_status($this->process)['pid'];
    }

    /** Writes raw bytes to the child's stdin (a whole frame, or garbage). */
    public function writeRaw(string $bytes): void
    {
        fwrite($this->stdin, $bytes);
    }

    /** Sends a request and returns its id. */
    public function request(string $method, array $params = []): int
    {
        $id = $this->nextId++;
        $this->writer->write($this->codec->request($id, $method, $params));
        return $id;
    }

    /**
     * Sends several requests in one write, so that the child reads them together (the host
     * keeping calls in flight); returns their ids in order.
     *
     * @param list<array{string, list<mixed>}> $calls method and params of each request
     * @return list<int>
     */
    public function requests(array $calls): array
    {
        $ids = [];
        $frames = '';
        foreach ($calls as [$method, $params]) {
            $ids[] = $id = $this->nextId++;
            $body = $this->codec->request($id, $method, $params);
            $frames .= pack('N', strlen($body)) . $body;
        }
        $this->writeRaw($frames);
        return $ids;
    }

    /**
     * The bytes of several frames, to be written at once with writeRaw() so that the child
     * reads them together: each message is ['request', id, method, params] or
     * ['notify', method, params].
     *
     * @param list<array> $messages
     */
    public function frames(array $messages): string
    {
        $bytes = '';
        foreach ($messages as $m) {
            $body = $m[0] === 'request' ? $this->codec->request($m[1], $m[2], $m[3]) : $this->codec->notification($m[1], $m[2]);
            $bytes .= pack('N', strlen($body)) . $body;
        }
        return $bytes;
    }

    /** Sends a notification. */
    public function notify(string $method, array $params = []): void
    {
        $this->writer->write($this->codec->notification($method, $params));
    }

    /** Sends `message` [value]. */
    public function send(mixed $value): void
    {
        $this->notify('message', [$value]);
    }

    /** Calls $method and returns the child's response (serving the child's calls meanwhile). */
    public function call(string $method, array $params = []): Response
    {
        return $this->waitResponse($this->request($method, $params));
    }

    /** Reads until the response to $id arrived. */
    public function waitResponse(int $id): Response
    {
        while (!isset($this->responses[$id])) {
            $message = $this->readMessage();
            if ($message === null) {
                throw new \RuntimeException(sprintf("child closed stdout before answering request %d\nstderr:\n%s", $id, $this->stderr()));
            }
            $this->dispatch($message);
        }
        $response = $this->responses[$id];
        unset($this->responses[$id]);
        return $response;
    }

    /** Reads until a notification arrived (or takes the oldest received) and returns it. */
    public function nextNotification(): Notification
    {
        while ($this->inbox === []) {
            $message = $this->readMessage();
            if ($message === null) {
                throw new \RuntimeException("child closed stdout before notifying\nstderr:\n" . $this->stderr());
            }
            $this->dispatch($message);
        }
        return array_shift($this->inbox);
    }

    /** Reads one message; null at end of file. Fails after HANG_SECONDS without one. */
    public function readMessage(): Request|Response|Notification|null
    {
        $body = $this->readBody();
        if ($body === null) {
            return null;
        }
        $message = $this->codec->decode($body);
        if ($message instanceof Response) {
            $this->rawResponses[$message->id] = $body;
        }
        return $message;
    }

    /** Reads one frame body; null at end of file. */
    public function readBody(): ?string
    {
        $frame = $this->reader->poll(self::HANG_SECONDS);
        if ($frame === false) {
            throw new \RuntimeException(sprintf("hang guard: no frame from the child within %.0f s\nstderr:\n%s", self::HANG_SECONDS, $this->stderr()));
        }
        return $frame;
    }

    /** Closes the child's stdin (end of file: the child must stop). */
    public function closeStdin(): void
    {
        if ($this->socket !== null) {
            if (is_resource($this->socket)) {
                stream_socket_shutdown($this->socket, STREAM_SHUT_WR);
            }
        } elseif (is_resource($this->stdin)) {
            fclose($this->stdin);
        }
    }

    /** Closes the host's read end of the channel (the child's writes then fail), not stdin. */
    public function closeStdout(): void
    {
        if (is_resource($this->stdout)) {
            fclose($this->stdout);
        }
    }

    /**
     * Waits for the child to exit and returns its exit status (killing it after the hang
     * guard). Closes the child's stdin first unless $closeStdin is false.
     */
    public function wait(bool $closeStdin = true): int
    {
        if ($this->exitCode !== null) {
            return $this->exitCode;
        }
        if ($closeStdin) {
            $this->closeStdin();
        }
        $deadline = microtime(true) + self::HANG_SECONDS;
        while (true) {
            $status = proc_get_status($this->process);
            if (!$status['running']) {
                $this->exitCode = $status['signaled'] ? 128 + $status['termsig'] : $status['exitcode'];
                break;
            }
            if (microtime(true) > $deadline) {
                proc_terminate($this->process, 9);
                usleep(100_000);
                $this->exitCode = -9;
                break;
            }
            usleep(2_000);
        }
        if (is_resource($this->stdout)) {
            fclose($this->stdout);
        }
        proc_close($this->process);
        return $this->exitCode;
    }

    /** Everything the child wrote to stderr so far. */
    public function stderr(): string
    {
        return (string) file_get_contents($this->stderrFile);
    }

    /** Everything the child wrote to stdout so far, when the channel is on descriptors. */
    public function stdout(): string
    {
        if ($this->stdoutFile === null) {
            throw new \LogicException('stdout is the channel: start the host with $channelFds');
        }
        return (string) file_get_contents($this->stdoutFile);
    }

    /** Stops the child (closing stdin) and removes the stderr file; safe to call twice. */
    public function close(): void
    {
        if ($this->exitCode === null) {
            $this->wait();
        }
        foreach ([$this->stderrFile, $this->stdoutFile] as $file) {
            if ($file !== null && is_file($file)) {
                unlink($file);
            }
        }
    }

    private function dispatch(Request|Response|Notification $message): void
    {
        if ($message instanceof Response) {
            $this->responses[$message->id] = $message;
        } elseif ($message instanceof Notification) {
            $this->inbox[] = $message;
        } else {
            $handler = $this->handlers[$message->method] ?? null;
            try {
                $error = null;
                $result = $handler === null
                    ? throw new \BadMethodCallException('no host handler ' . $message->method)
                    : $handler(...$message->params);
            } catch (\Throwable $e) {
                $error = ['type' => get_class($e), 'message' => $e->getMessage()];
                $result = null;
            }
            $this->writer->write($this->codec->response($message->id, $error, $result));
        }
    }
}
