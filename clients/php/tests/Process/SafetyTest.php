<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Exception\UnsupportedValue;
use Polyfork\Tests\Support\TestHost;

/**
 * Bad input from the host ends in a clear error on stderr and a non-zero exit, never a hang
 * or a corrupted channel; limits and the object-injection guard hold in a real process.
 */
final class SafetyTest extends TestCase
{
    private const CHILD = __DIR__ . '/../conformance_child.php';
    private const FIXTURES = __DIR__ . '/../fixtures/';

    /** @var list<TestHost> */
    private array $hosts = [];

    protected function tearDown(): void
    {
        foreach ($this->hosts as $host) {
            $host->close();
        }
    }

    private function start(string $script = self::CHILD, array $env = [], array $phpArgs = []): TestHost
    {
        return $this->hosts[] = new TestHost($script, $env, $phpArgs);
    }

    /** @return array<string, array{string, string}> */
    public static function garbage(): array
    {
        return [
            'text instead of frames' => ["hello, this is not a frame\n", '/frame of 1751477356 bytes is larger than the maximum/'],
            'length 0' => ["\x00\x00\x00\x00", '/frame with length 0/'],
            'length 0xFFFFFFFF' => ["\xff\xff\xff\xff\x00", '/frame of 4294967295 bytes is larger than the maximum frame size of 67108864/'],
            'half a length then EOF' => ["\x00\x00", '/truncated frame: end of file after 2 of the 4 bytes of the length prefix/'],
            'half a body then EOF' => ["\x00\x00\x00\x0a\x94\x00", '/truncated frame: end of file after 2 of the 10 bytes of the body/'],
            'not a message' => ["\x00\x00\x00\x01\x01", '/invalid message: a message is an array/'],
            // A map is not a message, even one whose keys are the positions of a request's
            // elements; both once failed with misleading reasons ("not 1" elements, "the
            // method is a msgpack str").
            'a map' => ["\x00\x00\x00\x04\x81\xa1a\x01", '/invalid message: a message is an array, got a map \(/'],
            'a map with the keys 0 to 3' => ["\x00\x00\x00\x0e\x84\x00\x00\x01\x07\x02\xa4echo\x03\x91\x01", '/invalid message: a message is an array, got a map \(/'],
            'decode bomb' => ["\x00\x00\x00\x05\xdd\xff\xff\xff\xff", '/array of 4294967295 elements cannot fit/'],
            'nesting 10000 deep' => [pack('N', 10001) . str_repeat("\x91", 10000) . "\xc0", '/nest deeper than the limit of 128/'],
            'method not UTF-8' => ["\x00\x00\x00\x06\x93\x02\xa2\xff\xfe\x90", '/method is not valid UTF-8/'],
        ];
    }

    /** @dataProvider garbage */
    public function testGarbageFromTheHostIsAClearErrorAndExitOne(string $bytes, string $message): void
    {
        $host = $this->start();
        $host->writeRaw($bytes);
        $host->closeStdin();
        $this->assertNull($host->readMessage(), 'nothing on stdout');
        $this->assertSame(1, $host->wait());
        $this->assertMatchesRegularExpression('/^polyfork: protocol error from the host, stopping: /', $host->stderr());
        $this->assertMatchesRegularExpression($message, $host->stderr());
    }

    public function testGarbageWhileAHandlerPollsForCancelStopsTheSession(): void
    {
        $host = $this->start();
        $host->request('sleep', [600000]);
        $host->writeRaw("\x00\x00\x00\x01\xc1");
        $this->assertNull($host->readMessage(), 'no response after a protocol error');
        $this->assertSame(1, $host->wait());
        $this->assertStringContainsString('0xc1 is never used', $host->stderr());
    }

    /**
     * docs/faults.md 8: the host closes its read end of the child's stdout and keeps the
     * child's stdin open. One line naming it, no new handler, status 0: the same in the
     * Python and Node clients.
     */
    public function testAFailedWriteEndsTheSessionWithOneLineAndStatusZero(): void
    {
        $host = $this->start();
        $host->closeStdout();
        $host->request('stderr', ['first']); // its answer cannot be written
        for ($i = 0; $i < 3000 && !str_contains($host->stderr(), 'first'); $i++) {
            usleep(10_000);
        }
        try {
            $host->request('stderr', ['second']);
        } catch (\Throwable) {
            // The child has exited already: what is asked of it.
        }
        $this->assertSame(0, $host->wait(closeStdin: false), $host->stderr());
        $this->assertSame("first\npolyfork: the host closed the channel: writing a frame failed (EPIPE); stopping\n", $host->stderr());
    }

    public function testARequestWithTheIdOfARequestInFlightIsAProtocolError(): void
    {
        // SPEC 4.1: the host could not tell the two answers apart. The child used to run both
        // and answer id 7 twice.
        $host = $this->start();
        $host->writeRaw($host->frames([['request', 7, 'sleep', [300]]]));
        $host->writeRaw($host->frames([['request', 7, 'echo', ['again']]]));
        $this->assertNull($host->readMessage(), 'no answer to either request');
        $this->assertSame(1, $host->wait());
        $this->assertMatchesRegularExpression('/^polyfork: protocol error from the host, stopping: request id 7 \("echo"\) is already in flight/', $host->stderr());
        $this->assertSame(1, substr_count($host->stderr(), "\n"), 'one line: ' . $host->stderr());
    }

    public function testARequestWithTheIdOfAQueuedRequestIsAProtocolError(): void
    {
        // Read while a handler runs and not yet run: in flight too.
        $host = $this->start();
        $host->writeRaw($host->frames([['request', 1, 'sleep', [300]]]));
        $host->writeRaw($host->frames([['request', 2, 'echo', ['a']], ['request', 2, 'echo', ['b']]]));
        $this->assertNull($host->readMessage(), 'no answer');
        $this->assertSame(1, $host->wait());
        $this->assertStringContainsString('request id 2 ("echo") is already in flight', $host->stderr());
    }

    public function testAnIdMayBeUsedAgainOnceAnswered(): void
    {
        $host = $this->start();
        foreach (['a', 'b'] as $value) {
            $host->writeRaw($host->frames([['request', 5, 'echo', [$value]]]));
            $this->assertSame($value, $host->waitResponse(5)->result);
        }
        $this->assertSame(0, $host->wait());
    }

    public function testFrameLargerThanTheChildsMaximum(): void
    {
        $host = $this->start(self::CHILD, ['POLYFORK_MAX_FRAME_SIZE' => '1000']);
        $this->assertSame(str_repeat('a', 900), $host->call('echo', [str_repeat('a', 900)])->result);
        $host->request('echo', [str_repeat('a', 2000)]);
        $this->assertNull($host->readMessage());
        $this->assertSame(1, $host->wait());
        $this->assertStringContainsString('larger than the maximum frame size of 1000 bytes', $host->stderr());
    }

    public function testResponseLargerThanTheMaximumIsAnErrorResponse(): void
    {
        $host = $this->start(self::CHILD, ['POLYFORK_MAX_FRAME_SIZE' => '1000']);
        // The request fits; the error response, with its traceback, does not.
        $error = $host->call('fail', [str_repeat('a', 900)])->error;
        $this->assertSame('ProtocolError', $error['type']);
        $this->assertMatchesRegularExpression('/refusing to send a frame of \d{4} bytes: the maximum frame size is 1000 bytes/', $error['message']);
        $this->assertSame(3, $host->call('add', [1, 2])->result, 'the connection stays usable');
    }

    public function testOversizeSendIsRefusedWithAClearException(): void
    {
        $host = $this->start(self::FIXTURES . 'send_child.php', ['POLYFORK_MAX_FRAME_SIZE' => '4096']);
        $first = $host->nextNotification();
        $this->assertSame(['message', ['before run']], [$first->method, $first->params], '$ready came first, then the early send');
        $this->assertMatchesRegularExpression(
            '/^refused: refusing to send a frame of 50\d\d bytes: the maximum frame size is 4096 bytes .*nothing was sent$/',
            $host->call('send_big', [5000])->result
        );
        $this->assertSame('sent', $host->call('send_big', [100])->result);
        $this->assertSame(str_repeat('x', 100), $host->nextNotification()->params[0]);
    }

    /** @return array<string, array{list<string>}> */
    public static function phpOnlySettings(): array
    {
        return ['php_only default' => [[]], 'php_only forced on' => [['-d', 'msgpack.php_only=1']]];
    }

    /** @dataProvider phpOnlySettings */
    public function testObjectInjectionIsRefused(array $phpArgs): void
    {
        $host = $this->start(self::FIXTURES . 'injection_child.php', [], $phpArgs);
        // {nil: "Canary", "x": 5}: what ext-msgpack makes of a Canary object, and turns back
        // into one when php_only is on.
        $canary = "\x82\xc0\xa6Canary\xa1x\x05";
        $body = "\x94\x00\x01\xa4echo\x91" . $canary;
        $host->writeRaw(pack('N', strlen($body)) . $body);
        $error = $host->waitResponse(1)->error;
        $this->assertSame(UnsupportedValue::class, $error['type']);
        $this->assertStringContainsString('map key of type nil', $error['message']);
        $note = "\x93\x02\xa7message\x91" . $canary;
        $host->writeRaw(pack('N', strlen($note)) . $note);
        $this->assertSame(0, $host->call('made')->result, 'no Canary was created');
        // A map that merely has a class-name-like key stays an array.
        $this->assertSame('array', $host->call('type', [['' => 'Canary', 'x' => 5]])->result);
        $host->wait();
        $this->assertStringContainsString('dropped notification "message": map key of type nil', $host->stderr());
        $this->assertStringNotContainsString('message: Canary', $host->stderr());
    }

    public function testUint64IsAnErrorForThatCallOnly(): void
    {
        $host = $this->start();
        $body = "\x94\x00\x07\xa4echo\x91\xcf\xff\xff\xff\xff\xff\xff\xff\xff";
        $host->writeRaw(pack('N', strlen($body)) . $body);
        $error = $host->waitResponse(7)->error;
        $this->assertSame(UnsupportedValue::class, $error['type']);
        $this->assertStringContainsString('integer 18446744073709551615', $error['message']);
        $this->assertSame(3, $host->call('add', [1, 2])->result);
    }

    /** @return array<string, array{string, string}> */
    public static function malformedTimestamps(): array
    {
        return [
            '5 bytes' => ['c705ff0000000001', 'a timestamp has 4, 8 or 12 bytes, not 5'],
            'timestamp64 with 1000000000 ns' => ['d7ffee6b280000000001', 'nanoseconds 1000000000 are above 999999999'],
            'timestamp96 with 2^32-1 ns' => ['c70cffffffffff0000000000000001', 'nanoseconds 4294967295 are above 999999999'],
        ];
    }

    /**
     * SPEC 3: a malformed timestamp fails the one value. The request gets an error response
     * naming the problem, the notification is dropped with one log line, a response makes
     * that call fail; the session goes on each time.
     *
     * @dataProvider malformedTimestamps
     */
    public function testAMalformedTimestampFailsOnlyItsValue(string $ext, string $problem): void
    {
        $host = $this->start();
        $body = "\x94\x00\x07\xa4echo\x91" . hex2bin($ext);
        $host->writeRaw(pack('N', strlen($body)) . $body);
        $this->assertSame(['type' => UnsupportedValue::class, 'message' => "timestamp at byte 9: $problem"], array_diff_key($host->waitResponse(7)->error, ['traceback' => 0]));

        $note = "\x93\x02\xa7message\x91" . hex2bin($ext);
        $host->writeRaw(pack('N', strlen($note)) . $note);
        $this->assertSame(3, $host->call('add', [1, 2])->result, 'the session goes on');

        // The host answers the child's call with a malformed timestamp as the result.
        $host->handlers['when'] = fn () => null;
        $id = $host->request('call_host', ['when', []]);
        $call = $host->readMessage();
        $this->assertSame('when', $call->method);
        $answer = "\x94\x01" . chr($call->id) . "\xc0" . hex2bin($ext);
        $host->writeRaw(pack('N', strlen($answer)) . $answer);
        $error = $host->waitResponse($id)->error;
        $this->assertSame(UnsupportedValue::class, $error['type']);
        $this->assertSame("timestamp at byte 4: $problem", $error['message']);
        $this->assertSame(3, $host->call('add', [1, 2])->result, 'still');

        $this->assertSame(0, $host->wait());
        $this->assertSame("polyfork: dropped notification \"message\": timestamp at byte 11: $problem\n", $host->stderr(), 'one log line');
    }

    public function testFallbackWithoutFfiStillKeepsStdoutClean(): void
    {
        $host = $this->start(self::CHILD, [], ['-d', 'ffi.enable=0']);
        $this->assertTrue($host->call('print', ['no ffi'])->result);
        $this->assertSame(3, $host->call('add', [1, 2])->result);
        $host->closeStdin();
        $this->assertNull($host->readMessage());
        $this->assertSame(0, $host->wait());
        // echo, print, printf, php://stdout, system(), passthru(); not fwrite(STDOUT), closed.
        $this->assertSame(6, substr_count($host->stderr(), "no ffi\n"));
    }

    /** @return array<string, array{list<string>, string}> */
    public static function ffiOrNot(): array
    {
        return ['ffi' => [[], 'false'], 'without ffi' => [['-d', 'ffi.enable=0'], 'STDIN closed']];
    }

    /**
     * @dataProvider ffiOrNot
     */
    public function testStdinIsOutOfReachOfHandlersAndSubprocesses(array $phpArgs, string $fgets): void
    {
        // Descriptor 0 was still the host's pipe: fgets(STDIN) waited for the host's next
        // frame and took it, and a subprocess reading stdin took the bytes of the next
        // request (SPEC 1: descriptor 0 SHOULD be /dev/null).
        $host = $this->start(self::FIXTURES . 'stdin_child.php', [], $phpArgs);
        $this->assertSame($fgets, $host->call('fgets')->result, $host->stderr());
        $sub = $host->request('subprocess');
        $echo = $host->request('echo', ['after']);
        $this->assertSame('', $host->waitResponse($sub)->result, $host->stderr());
        $this->assertSame('after', $host->waitResponse($echo)->result, $host->stderr());
        $this->assertSame(0, $host->wait(), $host->stderr());
        $this->assertSame('', $host->stderr());
    }
}
