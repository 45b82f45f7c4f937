<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Child;
use Polyfork\Exception\ProtocolError;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Response;

/**
 * The lane in Child::run() runs a request whose id is a uint16 or uint32 in its shortest form
 * with the id known as those bytes ($running is keyed by them; the int is decoded only when
 * needed). Everything that asks about the running request must still see its id: a `$cancel`
 * for it, cancelled(), throwIfCancelled(), a request with the same id while it waits for the
 * host, an error or a result that is not a str.
 */
final class LaneIdTest extends TestCase
{
    /** @return array<string, array{int}> */
    public static function ids(): array
    {
        return ['fixint' => [5], 'uint8' => [200], 'uint16' => [300], 'uint16 max' => [0xffff],
            'uint32' => [70000], 'uint32 max' => [0xffffffff]];
    }

    /** @dataProvider ids */
    public function testACancelReachesTheRunningRequest(int $id): void
    {
        $answers = $this->serve([self::request($id, 'poll'), self::note('$cancel', [$id])]);
        $this->assertSame([[$id, null, 'cancelled']], $answers);
    }

    /** @dataProvider ids */
    public function testThrowIfCancelledNamesTheRunningRequest(int $id): void
    {
        $answers = $this->serve([self::request($id, 'throw_if'), self::note('$cancel', [$id])]);
        $this->assertCount(1, $answers);
        $this->assertSame($id, $answers[0][0]);
        $this->assertStringContainsString((string) $id, (string) $answers[0][1]);
        $this->assertStringStartsWith('CancelledError', (string) $answers[0][1]);
    }

    /** @dataProvider ids */
    public function testARequestWithItsIdWhileItWaitsForTheHostIsADuplicate(int $id): void
    {
        $this->expectException(ProtocolError::class);
        $this->expectExceptionMessage("request id $id (\"echo\") is already in flight");
        $this->serve([self::request($id, 'nest'), self::request($id, 'echo')]);
    }

    /** @dataProvider ids */
    public function testARequestWithAnotherIdWhileItWaitsForTheHostIsServed(int $id): void
    {
        $other = $id === 0xffffffff ? $id - 1 : $id + 1;
        $codec = new MessageCodec();
        $answers = $this->serve([self::request($id, 'nest'), self::request($other, 'echo'), $codec->response(1, null, 'from the host')]);
        $this->assertSame([[$other, null, 'x'], [$id, null, 'from the host']], $answers);
    }

    /** @dataProvider ids */
    public function testErrorsAndResultsThatAreNotAStrCarryTheId(int $id): void
    {
        foreach (['fail' => 'RuntimeException: failed', 'len' => 1, 'bin' => "\xffx", 'none' => null] as $method => $want) {
            $answers = $this->serve([self::request($id, $method)]);
            $this->assertCount(1, $answers, $method);
            $this->assertSame($id, $answers[0][0], $method);
            $this->assertSame($want, $method === 'fail' ? $answers[0][1] : $answers[0][2], $method);
        }
    }

    private static function request(int $id, string $method): string
    {
        return (new MessageCodec())->request($id, $method, ['x']);
    }

    private static function note(string $method, array $params): string
    {
        return (new MessageCodec())->notification($method, $params);
    }

    /**
     * Runs a child over the frames of $bodies (read together) and returns the answers as [id,
     * error type and message (or null), result].
     *
     * @param list<string> $bodies
     * @return list<array{int, ?string, mixed}>
     */
    private function serve(array $bodies): array
    {
        $in = fopen('php://memory', 'w+b');
        foreach ($bodies as $body) {
            fwrite($in, pack('N', \strlen($body)) . $body);
        }
        rewind($in);
        $out = fopen('php://memory', 'w+b');
        $child = new Child($in, $out);
        $child->handle('echo', fn (string $v): string => $v);
        $child->handle('poll', fn (string $v): string => $child->cancelled() ? 'cancelled' : 'not cancelled');
        $child->handle('throw_if', function (string $v) use ($child): string {
            $child->throwIfCancelled();
            return 'not cancelled';
        });
        $child->handle('nest', fn (string $v): mixed => $child->call('host'));
        $child->handle('fail', fn (string $v) => throw new \RuntimeException('failed'));
        $child->handle('len', fn (string $v): int => \strlen($v));
        $child->handle('bin', fn (string $v): string => "\xff" . $v); // not UTF-8: a bin
        $child->handle('none', fn (string $v) => null);
        $child->run();
        rewind($out);
        $bytes = stream_get_contents($out);
        $codec = new MessageCodec();
        $answers = [];
        for ($at = 0; $at < \strlen($bytes);) {
            $size = unpack('N', $bytes, $at)[1];
            $message = $codec->decode(substr($bytes, $at + 4, $size));
            $at += 4 + $size;
            if ($message instanceof Response) {
                $error = $message->error === null ? null : $message->error['type'] . ': ' . $message->error['message'];
                $result = $message->result instanceof \Polyfork\Bin ? $message->result->bytes : $message->result;
                $answers[] = [$message->id, $error, $result];
            }
        }
        return $answers;
    }
}
