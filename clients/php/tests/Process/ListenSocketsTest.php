<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Tests\Support\TestHost;

/**
 * Listening sockets passed as descriptors 3.. (SPEC 1.2, the systemd convention): a real
 * listening socket made here is given to the child with proc_open's descriptor spec, and
 * LISTEN_PID is set to the child's own pid by `sh -c 'LISTEN_PID=$$ exec "$@"'`.
 */
final class ListenSocketsTest extends TestCase
{
    private const CONFORMANCE = __DIR__ . '/../conformance_child.php';
    private const WORKER = __DIR__ . '/../../examples/http_worker.php';

    /** Runs argv with LISTEN_PID set to the pid of the process that execs php. */
    private const SET_LISTEN_PID = ['sh', '-c', 'LISTEN_PID=$$ exec "$@"', 'sh'];

    /** @var list<TestHost> */
    private array $hosts = [];

    /** @var list<resource> */
    private array $processes = [];

    /** @var list<string> */
    private array $files = [];

    protected function tearDown(): void
    {
        foreach ($this->hosts as $host) {
            $host->close();
        }
        foreach ($this->processes as $process) {
            proc_terminate($process, 9);
            proc_close($process);
        }
        foreach ($this->files as $file) {
            @unlink($file);
        }
    }

    /** @return array{resource, int} a listening TCP socket on a free port of 127.0.0.1 and that port */
    private function tcpServer(): array
    {
        $server = stream_socket_server('tcp://127.0.0.1:0', $errno, $error);
        $this->assertIsResource($server, $error);
        return [$server, (int) substr(strrchr(stream_socket_get_name($server, false), ':'), 1)];
    }

    /** @return resource a listening Unix socket at a fresh path, which goes to $path */
    private function unixServer(?string &$path)
    {
        $path = sys_get_temp_dir() . '/polyfork-php-' . bin2hex(random_bytes(6)) . '.sock';
        $this->files[] = $path;
        $server = stream_socket_server('unix://' . $path, $errno, $error);
        $this->assertIsResource($server, $error);
        return $server;
    }

    /** An HTTP GET to 127.0.0.1:$port; the body. */
    private function get(int $port, string $path): string
    {
        $context = stream_context_create(['http' => ['timeout' => TestHost::HANG_SECONDS, 'ignore_errors' => true]]);
        $body = @file_get_contents("http://127.0.0.1:$port$path", false, $context);
        $this->assertIsString($body, "GET $path");
        $this->assertSame('HTTP/1.1 200 OK', $http_response_header[0] ?? null);
        return $body;
    }

    /** A raw HTTP request on $address (tcp:// or unix://); the whole response. */
    private function request(string $address, string $request): string
    {
        $conn = stream_socket_client($address, $errno, $error, TestHost::HANG_SECONDS);
        $this->assertIsResource($conn, $error);
        stream_set_timeout($conn, (int) TestHost::HANG_SECONDS);
        fwrite($conn, $request);
        $response = stream_get_contents($conn);
        fclose($conn);
        return (string) $response;
    }

    public function testTheExampleWorkerServesHttpWithoutAHost(): void
    {
        [$server, $port] = $this->tcpServer();
        $php = getenv('POLYFORK_PHP') ?: 'php';
        $stderr = tempnam(sys_get_temp_dir(), 'polyfork-php-stderr-');
        $this->files[] = $stderr;
        $env = getenv();
        unset($env['POLYFORK_PROTOCOL'], $env['POLYFORK_CHANNEL_FDS']);
        $process = proc_open(
            [...self::SET_LISTEN_PID, $php, self::WORKER],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', $stderr, 'w'], 3 => $server],
            $pipes,
            null,
            ['LISTEN_FDS' => '1', 'LISTEN_FDNAMES' => 'http'] + $env
        );
        $this->assertIsResource($process);
        $this->processes[] = $process;
        fclose($server); // the worker holds it now
        $pid = proc_get_status($process)['pid'];
        for ($i = 0; $i < 3; $i++) {
            $this->assertSame("hello from php worker $pid: GET /n/$i (0 bytes of body)\n", $this->get($port, "/n/$i"));
        }
        $response = $this->request("tcp://127.0.0.1:$port", "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
        $this->assertStringEndsWith("\r\n\r\nhello from php worker $pid: POST /form (5 bytes of body)\n", $response);
        $this->assertTrue(proc_get_status($process)['running'], 'still serving');
        $this->assertSame('', file_get_contents($stderr));
    }

    public function testTheExampleWorkerServesHttpAndItsHostTogether(): void
    {
        [$server, $port] = $this->tcpServer();
        $host = $this->hosts[] = new TestHost(
            self::WORKER,
            ['LISTEN_FDS' => '1', 'LISTEN_FDNAMES' => 'http'],
            channelFds: true,
            passFds: [3 => $server],
            prefix: self::SET_LISTEN_PID,
        );
        fclose($server);
        $this->assertSame([4, 5], $host->channel, 'the channel after the socket');
        $this->assertSame(0, $host->call('served')->result);
        $pid = $host->ready['pid'];
        $this->assertSame("hello from php worker $pid: GET / (0 bytes of body)\n", $this->get($port, '/'));
        $this->assertSame("hello from php worker $pid: GET /again (0 bytes of body)\n", $this->get($port, '/again'));
        $this->assertSame(2, $host->call('served')->result, 'calls and HTTP in one loop');
        $host->notify('$stop');
        $this->assertNull($host->readMessage());
        $this->assertSame(0, $host->wait());
        $this->assertSame('', $host->stderr());
        $this->assertFalse(@stream_socket_client("tcp://127.0.0.1:$port", $errno, $error, 5), 'the socket closed with the worker');
    }

    public function testTheExampleWorkerServesHttpOnAUnixSocket(): void
    {
        $server = $this->unixServer($path);
        $host = $this->hosts[] = new TestHost(self::WORKER, ['LISTEN_FDS' => '1'], channelFds: true, passFds: [3 => $server], prefix: self::SET_LISTEN_PID);
        fclose($server);
        $response = $this->request('unix://' . $path, "GET /over-unix HTTP/1.1\r\nHost: x\r\n\r\n");
        $this->assertStringStartsWith("HTTP/1.1 200 OK\r\n", $response);
        $this->assertStringEndsWith(sprintf("hello from php worker %d: GET /over-unix (0 bytes of body)\n", $host->ready['pid']), $response);
        $this->assertSame(1, $host->call('served')->result);
    }

    public function testTheHelperTakesSocketsInOrderWithTheirNames(): void
    {
        [$tcp, $port] = $this->tcpServer();
        $unix = $this->unixServer($path);
        $host = $this->hosts[] = new TestHost(
            self::CONFORMANCE,
            ['LISTEN_FDS' => '2', 'LISTEN_FDNAMES' => 'web:admin'],
            channelFds: true,
            passFds: [3 => $tcp, 4 => $unix],
            prefix: self::SET_LISTEN_PID,
        );
        $this->assertSame(['LISTEN_FDS' => '2'], ['LISTEN_FDS' => $host->call('env', ['LISTEN_FDS'])->result], 'not taken yet');
        $this->assertSame(['web', 'admin'], $host->call('listeners')->result);
        $this->assertSame(['web', 'admin'], $host->call('listeners')->result, 'the same, again');
        foreach (['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'] as $name) {
            $this->assertNull($host->call('env', [$name])->result, "$name is removed once taken");
        }
        $this->assertSame([0, 1, 2, 3, 4, 5, 6], array_slice($host->call('fds')->result, 0, 7), 'sockets on 3 and 4, channel on 5 and 6');
    }

    public function testNoSocketsWhenLISTEN_PIDIsAnotherProcess(): void
    {
        [$server] = $this->tcpServer();
        $host = $this->hosts[] = new TestHost(
            self::CONFORMANCE,
            ['LISTEN_FDS' => '1', 'LISTEN_PID' => '1', 'LISTEN_FDNAMES' => 'http'],
            channelFds: true,
            passFds: [3 => $server],
        );
        $this->assertSame([], $host->call('listeners')->result);
        $this->assertNull($host->call('env', ['LISTEN_FDS'])->result, 'removed all the same, like sd_listen_fds(1)');
    }

    public function testNoSocketsWithoutTheVariables(): void
    {
        $host = $this->hosts[] = new TestHost(self::CONFORMANCE, ['LISTEN_FDS' => null, 'LISTEN_PID' => null]);
        $this->assertSame([], $host->call('listeners')->result);
    }

    /** @return array<string, array{array<string, string>, string}> */
    public static function badSockets(): array
    {
        return [
            'LISTEN_FDS not a number' => [['LISTEN_FDS' => 'one'], 'polyfork: LISTEN_FDS must be a number of descriptors, got "one"'],
            'too few names' => [['LISTEN_FDS' => '2', 'LISTEN_FDNAMES' => 'web'], 'polyfork: LISTEN_FDNAMES must be 2 names separated by ":" (LISTEN_FDS=2), got "web"'],
            'descriptor 3 is a pipe' => [['LISTEN_FDS' => '1', 'PASS' => 'pipe'], 'polyfork: LISTEN_FDS="1": descriptor 3 is not a socket'],
            'descriptor 3 is not listening' => [['LISTEN_FDS' => '1', 'PASS' => 'connected'], 'polyfork: LISTEN_FDS="1": descriptor 3 is a socket that is not listening'],
        ];
    }

    /**
     * The helper's errors are StartupError: here, in a handler, the error of that call.
     *
     * @dataProvider badSockets
     */
    public function testBadSocketsAreAClearError(array $env, string $message): void
    {
        $pass = $env['PASS'] ?? 'listening';
        unset($env['PASS']);
        if ($pass === 'listening') {
            [$fd3] = $this->tcpServer();
        } elseif ($pass === 'connected') {
            $fd3 = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP)[0];
        } else {
            $fd3 = ['pipe', 'r'];
        }
        $host = $this->hosts[] = new TestHost(self::CONFORMANCE, $env, channelFds: true, passFds: [3 => $fd3], prefix: self::SET_LISTEN_PID);
        $this->assertSame(['type' => 'Polyfork\Exception\StartupError', 'message' => $message], array_diff_key($host->call('listeners')->error, ['traceback' => 0]));
    }
}
