<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Codec\Decoder;
use Polyfork\Codec\Encoder;
use Polyfork\Exception\UnsupportedValue;
use Polyfork\Tests\Support\Tagged;
use Polyfork\Tests\Support\TestHost;

/**
 * The conformance child (SPEC 9) in a real `php` process, driven by the test host: the
 * contract every client shares.
 */
final class ConformanceChildTest extends TestCase
{
    private const CHILD = __DIR__ . '/../conformance_child.php';

    private ?TestHost $host = null;

    protected function setUp(): void
    {
        $this->host = new TestHost(self::CHILD);
    }

    protected function tearDown(): void
    {
        $this->host?->close();
    }

    public function testHandshakeComesFirst(): void
    {
        $ready = $this->host->ready;
        $this->assertSame(['protocol', 'lang', 'pid', 'lib'], array_keys($ready));
        $this->assertSame(1, $ready['protocol']);
        $this->assertSame('php', $ready['lang']);
        $this->assertSame($this->host->pid(), $ready['pid']);
        $this->assertSame('polyfork-php/0.2.0', $ready['lib']);
    }

    public function testEveryValueVectorRoundTripsThroughEcho(): void
    {
        $encoder = new Encoder();
        foreach (Tagged::cases('values.json') as $name => [$vector]) {
            $bytes = hex2bin($vector['hex']);
            // [0, id, "echo", [value]] written by hand so the child sees the vector's own bytes.
            $id = 1000 + crc32($name) % 100000;
            $body = "\x94\x00" . $encoder->encode($id) . "\xa4echo\x91" . $bytes;
            $this->host->writeRaw(pack('N', strlen($body)) . $body);
            $response = $this->host->waitResponse($id);
            if (Tagged::hasUint64($vector['value'])) {
                $this->assertSame(UnsupportedValue::class, $response->error['type'] ?? null, $name);
                $this->assertStringContainsString('above PHP_INT_MAX', $response->error['message'], $name);
                continue;
            }
            $this->assertNull($response->error, $name);
            $raw = $this->host->rawResponses[$id];
            $expected = bin2hex($encoder->encode((new Decoder())->decode($bytes)));
            $this->assertSame($expected, bin2hex(substr($raw, 3 + strlen($encoder->encode($id)))), $name);
        }
    }

    public function testSendAndOnMessage(): void
    {
        $this->host->send('start');
        $this->host->send(['sum' => 4999950000]);
        $first = $this->host->nextNotification();
        $this->assertSame(['message', ['start']], [$first->method, $first->params]);
        $second = $this->host->nextNotification();
        $this->assertSame(['message', [['sum' => 4999950000]]], [$second->method, $second->params]);
    }

    public function testAdd(): void
    {
        $this->assertSame(3, $this->host->call('add', [1, 2])->result);
        $this->assertSame(2.5, $this->host->call('add', [1, 1.5])->result);
    }

    public function testFailKeepsTypeMessageAndTraceback(): void
    {
        $error = $this->host->call('fail', ['boom'])->error;
        $this->assertSame('ConformanceError', $error['type']);
        $this->assertSame('boom', $error['message']);
        $this->assertStringContainsString('#0 ', $error['traceback']);
    }

    public function testHandlerTypeErrorIsAnErrorNotACrash(): void
    {
        $error = $this->host->call('add', ['x', 1])->error;
        $this->assertSame('TypeError', $error['type']);
        $this->assertSame(3, $this->host->call('add', [1, 2])->result, 'the child still serves');
    }

    public function testMethodNotFound(): void
    {
        $this->assertSame(
            ['type' => 'MethodNotFound', 'message' => 'no handler for method "nope"'],
            $this->host->call('nope', [1])->error
        );
    }

    public function testCallHost(): void
    {
        $this->host->handlers['double'] = fn (int $x): int => 2 * $x;
        $this->assertSame(42, $this->host->call('call_host', ['double', [21]])->result);
    }

    public function testCallHostErrorBecomesRemoteError(): void
    {
        $this->host->handlers['broken'] = function (): never {
            throw new \DomainException('host says no');
        };
        $error = $this->host->call('call_host', ['broken', []])->error;
        $this->assertSame('Polyfork\Exception\RemoteError', $error['type']);
        $this->assertSame('host says no', $error['message']);
    }

    public function testHostCanCallBackWhileTheChildWaits(): void
    {
        $host = $this->host;
        // The host's handler calls the child's echo before it answers the child's call.
        $host->handlers['ask_child'] = fn (string $v): mixed => $host->call('echo', [$v . '!'])->result;
        $this->assertSame('ping!', $host->call('call_host', ['ask_child', ['ping']])->result);
    }

    public function testManyRequestsInFlight(): void
    {
        $ids = [];
        for ($i = 0; $i < 200; $i++) {
            $ids[$i] = $this->host->request('echo', [$i]);
        }
        foreach (array_reverse($ids, true) as $i => $id) {
            $this->assertSame($i, $this->host->waitResponse($id)->result);
        }
    }

    public function testCancelReachesTheRunningHandler(): void
    {
        // 600 s: if $cancel did not reach the handler, the hang guard fails the test.
        $id = $this->host->request('sleep', [600000]);
        $this->host->notify('$cancel', [$id]);
        $note = $this->host->nextNotification();
        $this->assertSame(['cancelled', [600000]], [$note->method, $note->params]);
        $this->assertSame('CancelledError', $this->host->waitResponse($id)->error['type']);
        $this->assertSame(3, $this->host->call('add', [1, 2])->result, 'the child still serves');
    }

    public function testCancelOfAQueuedRequestAnswersWithoutRunningIt(): void
    {
        $sleep = $this->host->request('sleep', [600000]);
        $queued = $this->host->request('fail', ['must not run']);
        $this->host->notify('$cancel', [$queued]);
        $this->host->notify('$cancel', [$sleep]);
        $this->assertSame('CancelledError', $this->host->waitResponse($sleep)->error['type']);
        $this->assertSame('CancelledError', $this->host->waitResponse($queued)->error['type']);
    }

    public function testCancelForAnUnknownIdIsIgnored(): void
    {
        $this->host->notify('$cancel', [12345]);
        $this->host->notify('$whatever', []);
        $this->assertSame('slept', $this->host->call('sleep', [1])->result);
    }

    public function testStopFinishesInFlightWorkThenExitsZero(): void
    {
        $id = $this->host->request('sleep', [20]);
        $this->host->notify('$stop');
        $this->assertSame('slept', $this->host->waitResponse($id)->result);
        $this->assertNull($this->host->readMessage(), 'stdout closes after $stop');
        $this->assertSame(0, $this->host->wait());
    }

    public function testARequestAfterStopIsAnsweredStoppingAndNotRun(): void
    {
        $host = $this->host;
        // One write: the child reads all four together, so the last two arrive after $stop.
        $host->writeRaw($host->frames([
            ['request', 100, 'sleep', [20]],
            ['notify', '$stop', []],
            ['request', 101, 'fail', ['must not run']],
            ['notify', 'message', ['after $stop']],
        ]));
        $this->assertSame('slept', $host->waitResponse(100)->result, 'in-flight work finishes');
        $this->assertSame(
            ['type' => 'Stopping', 'message' => 'request 101 for "fail" arrived after $stop and was not run: the child is stopping'],
            $host->waitResponse(101)->error
        );
        $note = $host->nextNotification();
        $this->assertSame(['message', ['after $stop']], [$note->method, $note->params], 'messages after $stop still reach listeners');
        $this->assertNull($host->readMessage(), 'then the child exits');
        $this->assertSame(0, $host->wait());
    }

    public function testARequestReadWhileAHandlerPollsAfterStopIsAnsweredStopping(): void
    {
        $host = $this->host;
        $sleep = $host->request('sleep', [600000]); // polls cancelled(), which queues the rest
        $host->notify('$stop');
        $late = $host->request('echo', ['late']);
        $host->notify('$cancel', [$sleep]);
        $this->assertSame('CancelledError', $host->waitResponse($sleep)->error['type']);
        $error = $host->waitResponse($late)->error;
        $this->assertSame('Stopping', $error['type']);
        $this->assertStringContainsString('"echo"', $error['message']);
        $this->assertNull($host->readMessage(), 'then the child exits');
        $this->assertSame(0, $host->wait());
    }

    public function testARequestAfterStopWhileTheChildWaitsForTheHostIsAnsweredStopping(): void
    {
        $host = $this->host;
        $late = null;
        $host->handlers['slow'] = function () use ($host, &$late): string {
            $host->notify('$stop');
            $late = $host->request('add', [1, 2]);
            return 'done';
        };
        $this->assertSame('done', $host->call('call_host', ['slow', []])->result, 'the running handler finishes');
        $error = $host->waitResponse($late)->error;
        $this->assertSame(['Stopping', true], [$error['type'], str_contains($error['message'], '"add"')]);
        $this->assertNull($host->readMessage());
        $this->assertSame(0, $host->wait());
    }

    public function testEndOfStdinExitsZero(): void
    {
        $this->host->closeStdin();
        $this->assertNull($this->host->readMessage());
        $this->assertSame(0, $this->host->wait());
        $this->assertSame('', $this->host->stderr());
    }

    public function testPrintGoesToStderrNotTheChannel(): void
    {
        $this->assertTrue($this->host->call('print', ['hello from print'])->result);
        $this->assertSame(3, $this->host->call('add', [1, 2])->result, 'channel intact');
        $this->host->closeStdin();
        $this->assertNull($this->host->readMessage(), 'no stray bytes on stdout');
        $this->assertSame(0, $this->host->wait());
        // echo, print, printf, fwrite(STDOUT), php://stdout, system(), passthru()
        $this->assertSame(7, substr_count($this->host->stderr(), "hello from print\n"));
    }

    public function testStderr(): void
    {
        $this->assertTrue($this->host->call('stderr', ['to the log'])->result);
        $this->host->wait();
        $this->assertSame("to the log\n", $this->host->stderr());
    }

    public function testExit(): void
    {
        $this->host->request('exit', [3]);
        $this->assertNull($this->host->readMessage(), 'no response, stdout closed');
        $this->assertSame(3, $this->host->wait());
    }

    public function testPid(): void
    {
        $this->assertSame($this->host->pid(), $this->host->call('pid')->result);
    }

    public function testLargeMessage(): void
    {
        $big = random_bytes(1 << 20);
        $this->assertSame($big, $this->host->call('echo', [$big])->result);
        $text = str_repeat("h\u{e9}llo ", 200000); // 1.2 MB of UTF-8: a str result
        $this->assertSame(md5($text), md5($this->host->call('echo', [$text])->result ?? ''));
        $this->assertSame(bin2hex("\x94\x01" . "\x02" . "\xc0\xdb" . pack('N', strlen($text))), bin2hex(substr($this->host->rawResponses[2], 0, 9)), 'as str');
        $this->host->send(str_repeat('x', 3 << 20));
        $this->assertSame(str_repeat('x', 3 << 20), $this->host->nextNotification()->params[0]);
    }

    /**
     * Large strings in every place the child reads one: the one parameter of a call and of a
     * message (handed over straight from the stream), the result of the child's own call to
     * the host (the same), and a parameter among others (from the body, as before).
     */
    public function testLargeStringsArriveWholeWhereverTheyAre(): void
    {
        $text = str_repeat("\u{e9}t\u{e9} ", 150000); // 1.05 MB of UTF-8
        $bytes = random_bytes(3 << 20);
        $this->host->handlers['big'] = fn (string $which): string => $which === 'text' ? $text : $bytes;
        $this->host->handlers['echo_back'] = fn (string $v): string => $v;
        $this->assertSame(md5($text), md5($this->host->call('call_host', ['big', ['text']])->result ?? ''), 'a str result of the host');
        $this->assertSame(md5($bytes), md5($this->host->call('call_host', ['big', ['bytes']])->result ?? ''), 'a bin result of the host');
        $this->assertSame(md5($bytes), md5($this->host->call('call_host', ['echo_back', [$bytes]])->result ?? ''), 'a parameter among others');
        $this->assertSame(md5($text), md5($this->host->call('echo', [$text])->result ?? ''), 'the one parameter');
        $this->host->send($bytes);
        $this->assertSame(md5($bytes), md5($this->host->nextNotification()->params[0]), 'a message');
        $this->assertSame(42, $this->host->call('add', [40, 2])->result, 'and the session goes on');
    }
}
