<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Child;
use Polyfork\Exception\ProtocolError;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Request;
use Polyfork\Message\Response;

/**
 * Child::run() serves the commonest request, `[0, id, fixstr method, [fixstr]]`, straight from
 * its bytes. These tests hold that lane to the general one: each request is also sent with its
 * method as a str8 (the same message in bytes the lane does not take), and both must get the
 * same answer. Frames that only look like the common shape must get the general path's error.
 */
final class ServeFastLaneTest extends TestCase
{
    /** @return array<string, array{int, string, string}> id, method, param */
    public static function requests(): array
    {
        $ids = ['fixint 0' => 0, 'fixint 127' => 127, 'uint8 128' => 128, 'uint8 255' => 255,
            'uint16 256' => 256, 'uint16 65535' => 65535, 'uint32 65536' => 65536, 'uint32 max' => 0xffffffff];
        $cases = [];
        foreach ($ids as $name => $id) {
            $cases["echo, id $name"] = [$id, 'echo', 'sixteen bytes!!!'];
        }
        return $cases + [
            'empty param' => [7, 'echo', ''],
            'param of 31 bytes (the longest fixstr)' => [7, 'echo', str_repeat('p', 31)],
            'non-ASCII param' => [7, 'echo', "h\u{e9}llo \u{1f600}"],
            'param that is not UTF-8 (returned: becomes bin)' => [7, 'echo', "\xff\xfe"],
            'method of 31 bytes' => [7, str_repeat('m', 31), 'x'],
            'non-ASCII method' => [7, "\u{e9}t\u{e9}", 'x'],
            'empty method' => [7, '', 'x'],
            'no handler for the method' => [7, 'nope', 'x'],
            'handler throws' => [7, 'fail', 'why'],
            'handler returns an int' => [7, 'len', 'four'],
            'handler returns a map' => [7, 'wrap', 'x'],
            'handler returns null' => [7, 'none', 'x'],
            'handler takes two params (gets one)' => [7, 'two', 'x'],
        ];
    }

    /** @dataProvider requests */
    public function testAnswersAsTheGeneralPathDoes(int $id, string $method, string $param): void
    {
        foreach ([0, Child::MAX_QUEUED_NS] as $maxQueuedNs) {
            $fast = $this->serve(self::request($id, $method, $param, str8Method: false), $maxQueuedNs);
            $general = $this->serve(self::request($id, $method, $param, str8Method: true), $maxQueuedNs);
            $this->assertCount(1, $fast);
            $this->assertSame($general, $fast);
            $this->assertSame($id, $fast[0][0]);
        }
    }

    public function testManyRequestsInOneReadAreAnsweredInOrder(): void
    {
        $frames = '';
        $want = [];
        for ($id = 250; $id < 300; $id++) { // across the uint8/uint16 boundary, every other one general
            $frames .= self::request($id, 'echo', "v$id", str8Method: $id % 2 === 0);
            $want[] = [$id, null, "v$id"];
        }
        $this->assertSame($want, $this->serve($frames, Child::MAX_QUEUED_NS));
    }

    /** @return array<string, array{string, string}> body, what the error says */
    public static function lookalikes(): array
    {
        return [
            'uint32 id cut short' => ["\x94\x00\xce\x00\x01", 'cut short'],
            'uint16 id cut short' => ["\x94\x00\xcd\x01", 'cannot fit'],
            'a byte after the param' => ["\x94\x00\x05\xa4echo\x91\xa1xZ", '1 bytes left over'],
            'a byte after the param of the empty method' => ["\x94\x00\x05\xa0\x91\xa1xZ", '1 bytes left over'],
            'param shorter than its header says' => ["\x94\x00\x05\xa4echo\x91\xa5x", 'str length 5'],
            'method not UTF-8' => ["\x94\x00\x05\xa2\xff\xfe\x91\xa1x", 'not valid UTF-8'],
        ];
    }

    /** @dataProvider lookalikes */
    public function testFramesThatOnlyLookCommonGetTheGeneralPathsError(string $body, string $says): void
    {
        $this->expectException(ProtocolError::class);
        $this->expectExceptionMessage($says);
        $this->serve(pack('N', \strlen($body)) . $body, 0);
    }

    public function testAnIdInANonCanonicalIntIsServedByTheGeneralPath(): void
    {
        $body = "\x94\x00\xd3" . str_repeat("\x00", 7) . "\x05\xa4echo\x91\xa1x"; // 5 as an int64
        $this->assertSame([[5, null, 'x']], $this->serve(pack('N', \strlen($body)) . $body, 0));
    }

    /**
     * Mutated lane frames (bytes changed, cut, added), each served alone: whatever the lane
     * does must agree with what MessageCodec::decode() makes of the same bytes.
     */
    public function testMutatedFramesAgreeWithTheDecoder(): void
    {
        mt_srand(20261204);
        $seeds = [
            self::request(5, 'echo', 'abc', false), self::request(300, 'echo', 'x', false),
            self::request(70000, 'echo', '', false), self::request(0xffffffff, 'echo', str_repeat('z', 31), false),
        ];
        $codec = new MessageCodec();
        for ($i = 0; $i < 2000; $i++) {
            $body = substr($seeds[$i % 4], 4);
            for ($k = mt_rand(1, 3); $k > 0; $k--) {
                $at = mt_rand(0, \strlen($body) - 1);
                $body = match (mt_rand(0, 3)) {
                    0 => substr_replace($body, \chr(mt_rand(0, 255)), $at, 1),
                    1 => substr($body, 0, max(1, $at)),
                    2 => $body . \chr(mt_rand(0, 255)),
                    3 => substr_replace($body, \chr(mt_rand(0, 255)), $at, 0),
                };
            }
            $case = 'body ' . bin2hex($body);
            try {
                $message = $codec->decode($body);
                $expected = null;
            } catch (ProtocolError $e) {
                $message = null;
                $expected = $e->getMessage();
            }
            try {
                $answers = $this->serve(pack('N', \strlen($body)) . $body, 0);
                $got = null;
            } catch (ProtocolError $e) {
                $answers = [];
                $got = $e->getMessage();
            }
            $this->assertSame($expected, $got, $case);
            if (!$message instanceof Request) {
                $this->assertSame([], $answers, $case); // a response or notification: no answer
                continue;
            }
            $this->assertCount(1, $answers, $case);
            $this->assertSame($message->id, $answers[0][0], $case);
            if ($message->method === 'echo' && $message->unsupported === null && \is_string($message->params[0] ?? null)) {
                $this->assertSame([null, $message->params[0]], [$answers[0][1], $answers[0][2]], $case);
            } elseif ($message->method === 'echo') {
                $this->assertNotNull($answers[0][1], $case); // not one str: the handler's TypeError
            }
        }
    }

    public function testHandleRefusesAMethodNameThatIsNotUtf8(): void
    {
        $child = new Child(fopen('php://memory', 'rb'), fopen('php://memory', 'w+b'));
        $this->expectException(\InvalidArgumentException::class);
        $this->expectExceptionMessage('the method name "ab\\xff" is not valid UTF-8');
        $child->handle("ab\xff", fn () => null);
    }

    /** The frame of [0, $id, $method, [$param]], with the method as a fixstr or a str8. */
    private static function request(int $id, string $method, string $param, bool $str8Method): string
    {
        $body = "\x94\x00" . ($id < 0x80 ? \chr($id) : ($id < 0x100 ? "\xcc" . \chr($id) : ($id < 0x10000 ? "\xcd" . pack('n', $id) : "\xce" . pack('N', $id))))
            . ($str8Method ? "\xd9" . \chr(\strlen($method)) : \chr(0xa0 | \strlen($method))) . $method
            . "\x91" . \chr(0xa0 | \strlen($param)) . $param;
        return pack('N', \strlen($body)) . $body;
    }

    /**
     * Runs a child with the test handlers over $frames and returns its answers as [id, error
     * type and message (or null), result], without the `$ready` first.
     *
     * @return list<array{int, ?string, mixed}>
     */
    private function serve(string $frames, int $maxQueuedNs): array
    {
        $in = fopen('php://memory', 'w+b');
        fwrite($in, $frames);
        rewind($in);
        $out = fopen('php://memory', 'w+b');
        $child = new Child($in, $out, maxQueuedNs: $maxQueuedNs);
        foreach (['echo', str_repeat('m', 31), "\u{e9}t\u{e9}", ''] as $name) {
            $child->handle($name, fn (string $v): string => $v);
        }
        $child->handle('fail', fn (string $v) => throw new \RuntimeException("failed: $v"));
        $child->handle('len', fn (string $v): int => \strlen($v));
        $child->handle('wrap', fn (string $v): array => ['got' => $v, 'n' => [1, 2]]);
        $child->handle('none', fn (string $v) => null);
        $child->handle('two', fn (string $a, string $b = 'default'): string => "$a/$b");
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
                $answers[] = [$message->id, $error, $message->result];
            }
        }
        return $answers;
    }
}
