<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Child;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Notification;

/**
 * The listener registry of Child over in-memory streams (the run loop itself is tested with
 * real processes in tests/Process).
 */
final class ChildTest extends TestCase
{
    public function testOnReturnsARemoverAndOffRemoves(): void
    {
        $codec = new MessageCodec();
        $in = fopen('php://memory', 'w+b');
        foreach (['a', 'b', 'c'] as $v) {
            $body = $codec->notification('message', [$v]);
            fwrite($in, pack('N', strlen($body)) . $body);
        }
        rewind($in);
        $child = new Child($in, fopen('php://memory', 'w+b'));
        $got = [];
        $first = function (mixed $v) use (&$got, &$child, &$first): void {
            $got[] = "first:$v";
            $child->off('message', $first);
        };
        $child->on('message', $first);
        $remove = $child->on('message', function (mixed $v) use (&$got, &$remove): void {
            $got[] = "second:$v";
            if ($v === 'b') {
                $remove();
            }
        });
        $child->run();
        $this->assertSame(['first:a', 'second:a', 'second:b'], $got);
    }

    public function testReadyIsTheFirstFrame(): void
    {
        $out = fopen('php://memory', 'w+b');
        $child = new Child(fopen('php://memory', 'rb'), $out);
        $child->send('hello');
        rewind($out);
        $codec = new MessageCodec();
        $frames = stream_get_contents($out);
        $ready = $codec->decode(substr($frames, 4, unpack('N', $frames)[1]));
        $this->assertInstanceOf(Notification::class, $ready);
        $this->assertSame('$ready', $ready->method);
        $this->assertSame(getmypid(), $ready->params[0]['pid']);
    }
}
