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
            'uint32 id, one int param' => ['9400ceffffffffa46563686f91d0ff', 0xffffffff, 'echo', [-1]],
            'uint8 id, one float param' => ['9400ccc8a46563686f91cb3ff8000000000000', 200, 'echo', [1.5]],
            'empty method, one nil param' => ['940005a091c0', 5, '', [null]],
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

    /** @return array<string, array{string}> msgpack hex of one scalar */
    public static function scalars(): array
    {
        $str = static fn (string $head, int $n): string => $head . str_repeat('61', $n);
        $cases = [
            'fixint 0' => '00', 'fixint 127' => '7f', 'negative fixint -1' => 'ff', 'negative fixint -32' => 'e0',
            'nil' => 'c0', 'false' => 'c2', 'true' => 'c3',
            'fixstr empty' => 'a0', 'fixstr 31' => $str('bf', 31), 'str not UTF-8' => 'a2fffe',
            'str8 0' => 'd900', 'str8 255' => $str('d9ff', 255), 'str16 256' => $str('da0100', 256),
            'str32 70000' => $str('db00011170', 70000), 'bin8 3' => 'c403000102', 'bin16 0' => 'c50000',
            'bin32 2' => 'c600000002ffff',
            'uint8 255' => 'ccff', 'uint16 65535' => 'cdffff', 'uint32 max' => 'ceffffffff',
            'uint64 2^63-1' => 'cf7fffffffffffffff', 'uint64 0' => 'cf0000000000000000',
            'int8 -128' => 'd080', 'int8 127' => 'd07f', 'int16 -32768' => 'd18000', 'int16 -1' => 'd1ffff',
            'int32 min' => 'd280000000', 'int32 -1' => 'd2ffffffff', 'int32 max' => 'd27fffffff',
            'int64 min' => 'd38000000000000000', 'int64 max' => 'd37fffffffffffffff', 'int64 -2' => 'd3fffffffffffffffe',
            'float32 1.5' => 'ca3fc00000', 'float32 NaN' => 'ca7fc00000', 'float32 -0' => 'ca80000000',
            'float64 1.0' => 'cb3ff0000000000000', 'float64 -inf' => 'cbfff0000000000000', 'float64 -0' => 'cb8000000000000000',
            // Not for lone(): the full path decides.
            'uint64 2^63' => 'cf8000000000000000', 'uint64 max' => 'cfffffffffffffffff',
            'array' => '90', 'map' => '80', 'ext' => 'd40501', 'timestamp' => 'd6ff00000000', '0xc1' => 'c1',
        ];
        $out = [];
        foreach ($cases as $name => $hex) {
            $out[$name] = [$hex];
            if (\strlen($hex) > 2) {
                $out["$name, cut short"] = [substr($hex, 0, -2)];
            }
            $out["$name, a byte after it"] = [$hex . '00'];
        }
        return $out;
    }

    /**
     * Decoder::lone() (params of one scalar, decoded by hand) gives what ext-msgpack gives
     * for `[v]`, or leaves the value to the full path (null); and a request carrying it
     * decodes to the same params, or fails the same way, either way.
     *
     * @dataProvider scalars
     */
    public function testOneScalarByHandIsWhatTheFullPathGives(string $hex): void
    {
        $scalar = hex2bin($hex);
        $decoder = new \Polyfork\Codec\Decoder();
        $lone = $decoder->lone("\x94\x00\x05\xa4echo\x91" . $scalar, 9);
        $reference = static function () use ($scalar): string {
            try {
                // Scanner first (a frame over 128 bytes takes it), then ext-msgpack.
                return serialize((new \Polyfork\Codec\Decoder())->decode("\x92\xda\x00\x80" . str_repeat('x', 128) . $scalar)[1]);
            } catch (\Throwable $e) {
                return \get_class($e);
            }
        };
        if ($lone !== null) {
            $this->assertSame($reference(), serialize($lone[0]));
        }
        $viaCodec = static function () use ($scalar): string {
            try {
                $message = (new MessageCodec())->decode("\x94\x00\x05\xa4echo\x91" . $scalar);
                return $message->unsupported !== null ? \get_class($message->unsupported) : (array_key_exists(0, $message->params) ? serialize($message->params[0]) : 'no param');
            } catch (\Throwable $e) {
                return \get_class($e);
            }
        };
        $this->assertSame($reference(), $viaCodec());
    }

    /** A str result, built by hand, is the bytes ext-msgpack packs, at every length and id boundary. */
    public function testAStringResultIsEncodedAsExtMsgpackWould(): void
    {
        $codec = new MessageCodec();
        $msgpack = new \MessagePack(false);
        foreach ([0, 127, 128, 255, 256, 65535, 65536, 0xffffffff] as $id) {
            foreach ([0, 31, 32, 255, 256, 65535, 65536, 70000] as $n) {
                $s = str_repeat('é', intdiv($n, 2)) . str_repeat('a', $n % 2);
                $this->assertSame(bin2hex($msgpack->pack([1, $id, null, $s])), bin2hex($codec->response($id, null, $s)), "id $id, $n bytes");
            }
        }
        $this->assertSame('940101c0c402fffe', bin2hex($codec->response(1, null, "\xff\xfe")), 'not UTF-8: bin');
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
