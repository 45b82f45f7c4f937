<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Child;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Response;

/**
 * A call whose one parameter is a large string (a frame of 64 KiB or more) gets that string
 * straight from the stream (FrameReader::$tail). Returned as it is (or the same bytes), a
 * string that arrived as `str` goes back as `str` without being checked again; anything else
 * is checked as always.
 */
final class LargeStringTest extends TestCase
{
    /**
     * Serves the requests [method, param bytes, header byte of the param] (ids 1, 2, ... in
     * order) with a Child over in-memory streams; returns each response's raw body. An entry
     * ['answer'] is the host's answer, "ok", to the child's first call (made by `host`).
     *
     * @param list<array{string, string, string}|array{string}> $requests
     * @return list<string>
     */
    private static function serve(array $requests): array
    {
        $in = fopen('php://memory', 'w+b');
        foreach ($requests as $i => $request) {
            if ($request === ['answer']) {
                $body = "\x94\x01\x01\xc0\xa2ok";
            } else {
                [$method, $param, $header] = $request;
                $body = "\x94\x00" . \chr($i + 1) . \chr(0xa0 | \strlen($method)) . $method . "\x91" . $header . pack('N', \strlen($param)) . $param;
            }
            fwrite($in, pack('N', \strlen($body)) . $body);
        }
        rewind($in);
        $out = fopen('php://memory', 'w+b');
        $child = new Child($in, $out);
        // Calls the host and returns how much memory the requests served meanwhile left held.
        $child->handle('host', function (string $v) use ($child): int {
            $before = memory_get_usage();
            $child->call('host');
            return memory_get_usage() - $before;
        });
        $child->handle('echo', fn (string $v): string => $v);
        $child->handle('edit', fn (string $v): string => substr($v, 0, -1) . "\xff");
        $child->handle('copy', fn (string $v): string => substr($v, 0, -1) . $v[-1]);
        $child->handle('length', fn (string $v): int => \strlen($v));
        $child->handle('memory', fn (string $v): int => memory_get_usage());
        $child->run();
        rewind($out);
        $frames = stream_get_contents($out);
        $bodies = [];
        for ($at = 0; $at < \strlen($frames); $at += 4 + $n) {
            $n = unpack('N', $frames, $at)[1];
            $bodies[] = substr($frames, $at + 4, $n);
        }
        array_shift($bodies); // $ready
        return array_values(array_filter($bodies, fn (string $b): bool => !str_starts_with($b, "\x94\x00"))); // not the child's call
    }

    /** The type byte of the result in response $body (to a request whose id is under 128). */
    private static function resultType(string $body): string
    {
        return bin2hex($body[4]);
    }

    public function testAStrReturnedAsItIsGoesBackAsStrWithoutAnotherLook(): void
    {
        $text = str_repeat("\u{e9}t\u{e9} ", 30000); // 210 kB of UTF-8
        // Bytes that are not UTF-8 in a str break SPEC 3; returned as they are, they are the
        // host's own bytes back, with the type it gave them.
        $notText = str_repeat('x', 100000) . "\xff";
        [$a, $b] = self::serve([['echo', $text, "\xdb"], ['echo', $notText, "\xdb"]]);
        $this->assertSame('db', self::resultType($a));
        $this->assertSame(md5($text), md5(substr($a, 9)));
        $this->assertSame('db', self::resultType($b));
        $this->assertSame(md5($notText), md5(substr($b, 9)));
    }

    public function testTheStringDoesNotOutliveItsRequest(): void
    {
        $codec = new MessageCodec();
        $answers = self::serve([
            ['memory', 'x', "\xdb"],
            ['length', str_repeat('t', 1 << 20), "\xdb"], // a str kept for its request only
            ['memory', 'x', "\xdb"],
        ]);
        $grown = $codec->decode($answers[2])->result - $codec->decode($answers[0])->result;
        $this->assertLessThan(256 << 10, $grown, 'memory held after a 1 MiB call whose handler kept nothing');
    }

    /**
     * A request served while a handler waits for the host (inside call()) has its own string:
     * it does not inherit the waiting request's, and its own does not outlive it.
     */
    public function testARequestServedInsideAHandlerHasItsOwnString(): void
    {
        $notText = str_repeat('x', 100000) . "\xff";
        $codec = new MessageCodec();
        // The waiting request got the bytes as a str; the one served meanwhile, as a bin.
        $answers = self::serve([['host', $notText, "\xdb"], ['echo', $notText, "\xc6"], ['answer']]);
        $this->assertSame(2, $codec->decode($answers[0])->id);
        $this->assertSame('c6', self::resultType($answers[0]), 'a bin comes back as bin');
        // A 1 MiB str served meanwhile is not held once it is answered.
        $answers = self::serve([['host', 'x', "\xdb"], ['length', str_repeat('t', 1 << 20), "\xdb"], ['answer']]);
        $this->assertSame(1 << 20, $codec->decode($answers[0])->result);
        $this->assertLessThan(256 << 10, $codec->decode($answers[1])->result, 'memory held after the inner request');
    }

    public function testEveryOtherStringIsCheckedAsAlways(): void
    {
        $text = str_repeat('t', 100000);
        $codec = new MessageCodec();
        $answers = self::serve([
            ['edit', $text, "\xdb"],    // a new string, not UTF-8: bin
            ['copy', $text, "\xdb"],    // a new string with the str's bytes: str
            ['echo', $text, "\xc6"],    // a bin that is UTF-8: str, as for any PHP string
            ['echo', "\xfe" . $text, "\xc6"], // a bin that is not: bin
            ['length', $text, "\xdb"],  // not a string
        ]);
        $this->assertSame(['c6', 'db', 'db', 'c6', 'ce'], array_map(self::resultType(...), $answers));
        $response = $codec->decode($answers[0]);
        $this->assertInstanceOf(Response::class, $response);
        $this->assertSame(substr($text, 0, -1) . "\xff", $response->result);
        $this->assertSame(100000, $codec->decode($answers[4])->result);
    }
}
