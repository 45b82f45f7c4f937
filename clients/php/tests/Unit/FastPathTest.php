<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Exception\ProtocolError;
use Polyfork\Exception\UnsupportedValue;
use Polyfork\Ext;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Notification;
use Polyfork\Message\Request;

/**
 * The shortcuts of MessageCodec::decode (the envelope read from its bytes, small frames
 * without the Scanner, `[v]` params of any size straight to ext-msgpack) decide exactly what
 * the full path decides: the same values, and the same errors for the same bad bytes.
 */
final class FastPathTest extends TestCase
{
    /** @return array<string, array{string, int, string, list<mixed>}> */
    public static function requests(): array
    {
        $kib = str_repeat('x', 1024);
        return [
            'fixint id, small' => ['940005a46563686f91a3616263', 5, 'echo', ['abc']],
            'uint16 id made of ext and uint64 bytes' => ['9400cdc7cfa46563686f91a3616263', 0xc7cf, 'echo', ['abc']],
            'uint32 id' => ['9400ced4d5d6d7a46563686f90', 0xd4d5d6d7, 'echo', []],
            'str16 param of 1 KiB' => ['940005a46563686f91da0400' . bin2hex($kib), 5, 'echo', [$kib]],
            'bin16 param of 1 KiB' => ['940005a46563686f91c50400' . bin2hex($kib), 5, 'echo', [$kib]],
            'str32 param of 64 KiB' => ['940005a46563686f91db00010000' . str_repeat('79', 65536), 5, 'echo', [str_repeat('y', 65536)]],
            'two params, 1 KiB' => ['940005a46563686f92da0400' . bin2hex($kib) . '01', 5, 'echo', [$kib, 1]],
            'nested params, 1 KiB' => ['940005a46563686f9191da0400' . bin2hex($kib), 5, 'echo', [[$kib]]],
            'ext param, 1 KiB around it' => ['940005a46563686f92da0400' . bin2hex($kib) . 'd40501', 5, 'echo', [$kib, new Ext(5, "\x01")]],
            'non-ASCII method' => ['940005a2c3a990', 5, "\u{e9}", []],
        ];
    }

    /** @dataProvider requests */
    public function testDecodesRequests(string $hex, int $id, string $method, array $params): void
    {
        $message = (new MessageCodec())->decode(hex2bin($hex));
        $this->assertInstanceOf(Request::class, $message);
        $this->assertNull($message->unsupported);
        $this->assertSame([$id, $method], [$message->id, $message->method]);
        $this->assertEquals($params, $message->params);
    }

    public function testDecodesALargeNotification(): void
    {
        $kib = str_repeat('z', 1024);
        $message = (new MessageCodec())->decode(hex2bin('9302a76d65737361676591da0400' . bin2hex($kib)));
        $this->assertInstanceOf(Notification::class, $message);
        $this->assertSame(['message', [$kib]], [$message->method, $message->params]);
    }

    public function testUnsupportedParamInALargeFrameKeepsItsEnvelope(): void
    {
        // [0, 7, "echo", [str of 1 KiB, 18446744073709551615]]
        $hex = '940007a46563686f92da0400' . str_repeat('78', 1024) . 'cfffffffffffffffff';
        $message = (new MessageCodec())->decode(hex2bin($hex));
        $this->assertInstanceOf(Request::class, $message);
        $this->assertSame([7, 'echo', []], [$message->id, $message->method, $message->params]);
        $this->assertInstanceOf(UnsupportedValue::class, $message->unsupported);
    }

    /** @return array<string, array{string, string}> */
    public static function invalid(): array
    {
        $kib = str_repeat('78', 1024);
        return [
            'cut after the kind' => ['9400', '/./'],
            'cut after the id' => ['940005', '/./'],
            'cut after the method' => ['940005a46563686f', '/./'],
            'fixstr method longer than the frame' => ['940005bf6563686f', '/./'],
            'str16 param longer than the frame' => ['940005a46563686f91da0401' . $kib, '/str length 1025 is larger than the 1024 bytes left/'],
            'str32 param claiming 4 GiB in a 1 KiB frame' => ['940005a46563686f91dbffffffff' . $kib, '/str length 4294967295 is larger than the 1024 bytes left/'],
            'str16 param shorter than the frame' => ['940005a46563686f91da03ff' . $kib, '/1 bytes left over/'],
            'bytes after a small message' => ['940005a46563686f90c0', '/1 bytes left over/'],
            'method not UTF-8' => ['940005a2fffe90', '/method is not valid UTF-8/'],
            'method as bin, 1 KiB params' => ['940005c4046563686f91da0400' . $kib, '/method is a msgpack str/'],
            'params as a map' => ['940005a46563686f81a16101', '/params are a msgpack array/'],
            'params nested 128 deep after 1 KiB' => ['940005a46563686f92da0400' . $kib . str_repeat('91', 126) . '90', '/nest deeper than the limit of 128/'],
        ];
    }

    /** @dataProvider invalid */
    public function testRejects(string $hex, string $message): void
    {
        $bytes = hex2bin($hex);
        memory_reset_peak_usage();
        $before = memory_get_peak_usage();
        try {
            (new MessageCodec())->decode($bytes);
            $this->fail('accepted');
        } catch (ProtocolError $e) {
            $this->assertMatchesRegularExpression($message, $e->getMessage());
        }
        $this->assertLessThan(1 << 20, memory_get_peak_usage() - $before, 'no large allocation');
    }
}
