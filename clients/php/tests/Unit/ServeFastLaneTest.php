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
 * Child::run() serves the commonest request, `[0, id, fixstr method, [str]]` (a fixstr, str8 or
 * str16 param), straight from its bytes. These tests hold that lane to the general one: each request is also sent with its
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
            'param that is not UTF-8' => [7, 'echo', "\xff\xfe"],
            'param of 32 bytes (a str8)' => [7, 'echo', str_repeat('p', 32)],
            'param of 255 bytes' => [7, 'echo', str_repeat('p', 255)],
            'param of 256 bytes (a str16)' => [7, 'echo', str_repeat('p', 256)],
            'param of 1 KiB, non-ASCII' => [300, 'echo', str_repeat("\u{e9}t\u{e9} ", 170)],
            'param of 65535 bytes (the longest str16)' => [70000, 'echo', str_repeat('q', 65535)],
            'param of 65536 bytes (a str32)' => [7, 'echo', str_repeat('q', 65536)],
            'str8 param that is not UTF-8' => [7, 'echo', str_repeat("\xff", 40)],
            'str8 param, handler returns an int' => [7, 'len', str_repeat('p', 40)],
            'str16 param, no handler for the method' => [7, 'nope', str_repeat('p', 300)],
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

    /** @return array<string, array{string, string}> the param's header kind, param */
    public static function paramHeads(): array
    {
        return [
            'empty str8' => ['str8', ''],
            'short str8' => ['str8', 'abc'],
            'short str16' => ['str16', 'abc'],
            'str16 of 300 bytes' => ['str16', str_repeat('x', 300)],
            'str32' => ['str32', str_repeat('x', 40)],
            'bin8' => ['bin', str_repeat('x', 40)],
            'bin8, not UTF-8' => ['bin', "\xff\xfe"],
            'bin16' => ['bin', str_repeat("\x80", 300)],
        ];
    }

    /**
     * The lane takes any str up to a str16; other headers (str in more bytes than needed,
     * str32, bin) take the general path. Both answer alike.
     *
     * @dataProvider paramHeads
     */
    public function testEveryParamHeaderAnswersAsTheGeneralPathDoes(string $head, string $param): void
    {
        $fast = $this->serve(self::request(9, 'echo', $param, false, $head), 0);
        $general = $this->serve(self::request(9, 'echo', $param, true, $head), 0);
        $this->assertSame([[9, null, $param]], $fast);
        $this->assertSame($general, $fast);
    }

    /**
     * On the wire: a result equal to the str param goes back as the str it came as, without a
     * UTF-8 check (SPEC 3: a str is UTF-8; a peer that broke that gets its str back); any
     * other string goes as str when it is UTF-8 and as bin when it is not, whatever its length.
     */
    public function testAStrReturnedAsItCameGoesBackAsAStr(): void
    {
        $long = str_repeat('a', 40);
        $cases = [
            // handler, param, the response's bytes after [1, 9, nil
            ['echo', "\xff\xfe", "\xa2\xff\xfe"],
            ['echo', $long . "\xff", "\xd9\x29" . $long . "\xff"],
            ['copy', "\xff\xfe", "\xa2\xff\xfe"], // the same bytes as the str that came
            ['more', "\xff\xfe", "\xc4\x03\xff\xfez"],
            ['more', $long . "\xff", "\xc4\x2a" . $long . "\xffz"],
            ['more', $long . "\u{e9}", "\xd9\x2b" . $long . "\u{e9}z"],
            ['more', $long, "\xd9\x29" . $long . 'z'],
            ['more', "\u{e9}", "\xa3\u{e9}z"],
        ];
        foreach ($cases as [$method, $param, $want]) {
            $in = fopen('php://memory', 'w+b');
            fwrite($in, self::request(9, $method, $param, false));
            rewind($in);
            $out = fopen('php://memory', 'w+b');
            $child = new Child($in, $out, maxQueuedNs: 0);
            $child->handle('echo', fn (string $v): string => $v);
            $child->handle('copy', fn (string $v): string => strrev(strrev($v))); // a new string, equal
            $child->handle('more', fn (string $v): string => $v . 'z');
            $child->run();
            rewind($out);
            $bytes = stream_get_contents($out);
            $size = unpack('N', $bytes)[1];
            $response = substr($bytes, 4 + $size); // after `$ready`
            $this->assertSame(bin2hex(pack('N', 4 + \strlen($want)) . "\x94\x01\x09\xc0" . $want), bin2hex($response), "$method " . bin2hex($param));
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
            'str8 param with no length' => ["\x94\x00\x05\xa4echo\x91\xd9", 'cut short'],
            'str16 param with half a length' => ["\x94\x00\x05\xa4echo\x91\xda\x00", 'cut short'],
            'str8 param shorter than its header says' => ["\x94\x00\x05\xa4echo\x91\xd9\x03ab", 'str length 3'],
            'str16 param shorter than its header says' => ["\x94\x00\x05\xa4echo\x91\xda\x01\x00ab", 'str length 256'],
            'a byte after a str16 param' => ["\x94\x00\x05\xa4echo\x91\xda\x00\x01aZ", '1 bytes left over'],
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
     * The lane answers with the id's own bytes when they are its shortest form (cheaper than
     * encoding it again); an id sent in more bytes than it needs is answered in its shortest
     * form, as the general path does. On the wire, at every width and edge.
     */
    public function testTheAnswersIdIsInItsShortestFormWhateverTheRequestsWas(): void
    {
        $codec = new MessageCodec();
        $widths = [
            'fixint' => fn (int $id): ?string => $id < 0x80 ? \chr($id) : null,
            'uint8' => fn (int $id): ?string => $id < 0x100 ? "\xcc" . \chr($id) : null,
            'uint16' => fn (int $id): ?string => $id < 0x10000 ? "\xcd" . pack('n', $id) : null,
            'uint32' => fn (int $id): string => "\xce" . pack('N', $id),
        ];
        $note = $codec->notification('nobody', []);
        $after = pack('N', \strlen($note)) . $note;
        foreach ([0, 5, 127, 128, 255, 256, 300, 65535, 65536, 70000, 0xffffffff] as $id) {
            foreach ($widths as $width => $encode) {
                $idBytes = $encode($id);
                if ($idBytes === null) {
                    continue;
                }
                $body = "\x94\x00" . $idBytes . "\xa4echo\x91\xa1x";
                $frames = pack('N', \strlen($body)) . $body;
                foreach ([0, Child::MAX_QUEUED_NS] as $maxQueuedNs) {
                    $in = fopen('php://memory', 'w+b');
                    fwrite($in, $frames . $after); // batched, the answer is queued behind $after
                    rewind($in);
                    $out = fopen('php://memory', 'w+b');
                    $child = new Child($in, $out, maxQueuedNs: $maxQueuedNs);
                    $child->handle('echo', fn (string $v): string => $v);
                    $child->run();
                    rewind($out);
                    $bytes = stream_get_contents($out);
                    $ready = unpack('N', $bytes)[1];
                    $answer = $codec->response($id, null, 'x');
                    $this->assertSame(bin2hex(pack('N', \strlen($answer)) . $answer), bin2hex(substr($bytes, 4 + $ready, 4 + \strlen($answer))), "id $id as $width");
                }
            }
        }
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
            self::request(9, 'echo', str_repeat('y', 40), false), self::request(300, 'echo', str_repeat('w', 300), false),
            self::request(9, 'echo', 'ab', false, 'str16'),
        ];
        $codec = new MessageCodec();
        for ($i = 0; $i < 4000; $i++) {
            $body = substr($seeds[$i % \count($seeds)], 4);
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

    /**
     * The frame of [0, $id, $method, [$param]], with the method as a fixstr or a str8, and the
     * param as the shortest str that holds it, or as $paramHead says ('bin' for a bin).
     */
    private static function request(int $id, string $method, string $param, bool $str8Method, string $paramHead = 'str'): string
    {
        $n = \strlen($param);
        $head = match ($paramHead) {
            'str' => $n < 0x20 ? \chr(0xa0 | $n) : ($n < 0x100 ? "\xd9" . \chr($n) : ($n < 0x10000 ? "\xda" . pack('n', $n) : "\xdb" . pack('N', $n))),
            'str8' => "\xd9" . \chr($n),
            'str16' => "\xda" . pack('n', $n),
            'str32' => "\xdb" . pack('N', $n),
            'bin' => $n < 0x100 ? "\xc4" . \chr($n) : ($n < 0x10000 ? "\xc5" . pack('n', $n) : "\xc6" . pack('N', $n)),
        };
        $body = "\x94\x00" . ($id < 0x80 ? \chr($id) : ($id < 0x100 ? "\xcc" . \chr($id) : ($id < 0x10000 ? "\xcd" . pack('n', $id) : "\xce" . pack('N', $id))))
            . ($str8Method ? "\xd9" . \chr(\strlen($method)) : \chr(0xa0 | \strlen($method))) . $method
            . "\x91" . $head . $param;
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
