<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Codec\Decoder;
use Polyfork\Codec\Encoder;
use Polyfork\Exception\ProtocolError;
use Polyfork\Exception\UnsupportedValue;
use Polyfork\Ext;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Request;

/** How msgpack arrives in PHP (README "Values"), beyond what the golden vectors cover. */
final class DecoderTest extends TestCase
{
    /** @return array<string, array{string, mixed}> */
    public static function decodings(): array
    {
        return [
            'non-canonical uint16 1' => ['cd0001', 1],
            'non-canonical int64 -1' => ['d3ffffffffffffffff', -1],
            'uint64 that fits an int' => ['cf7fffffffffffffff', PHP_INT_MAX],
            'bin is a string' => ['c4026869', 'hi'],
            'str key "1" is the int key 1' => ['81a13102', [1 => 2]],
            'map with keys 0, 1 is a list' => ['8200a16101a162', ['a', 'b']],
            'bin key is a string key' => ['81c4016b01', ['k' => 1]],
            'duplicate keys: the last wins' => ['82a16101a16102', ['a' => 2]],
            'empty map is an empty array' => ['80', []],
            'float32 is a float' => ['ca3fc00000', 1.5],
            'ext in an array' => ['92d40501c0', [new Ext(5, "\x01"), null]],
            'ext in a map' => ['81a165c70105ff', ['e' => new Ext(5, "\xff")]],
            'timestamp64' => ['d7ff773594005fee6600', new \DateTimeImmutable('2021-01-01 00:00:00.5 UTC')],
            'timestamp96' => ['c70cff1dcd6500ffffffffffffffff', new \DateTimeImmutable('1969-12-31 23:59:59.5 UTC')],
            'str that looks like a placeholder' => ['b4' . str_repeat('00', 20), str_repeat("\0", 20)],
        ];
    }

    /** @dataProvider decodings */
    public function testDecodes(string $hex, mixed $expected): void
    {
        $this->assertEquals($expected, (new Decoder())->decode(hex2bin($hex)));
    }

    /** @return array<string, array{string, string}> */
    public static function unsupported(): array
    {
        return [
            'uint64 above PHP_INT_MAX in a map' => ['81a178cf8000000000000000', '/integer 9223372036854775808 at byte 3 is above PHP_INT_MAX/'],
            'uint64 max' => ['cfffffffffffffffff', '/integer 18446744073709551615 at byte 0/'],
            'nil key' => ['81c001', '/map key of type nil at byte 1/'],
            'bool key' => ['81c301', '/map key of type bool/'],
            'float key' => ['81cb3ff000000000000001', '/map key of type float64/'],
            'array key' => ['819101c0', '/map key of type array/'],
            'map key' => ['818001', '/map key of type map/'],
            'ext key' => ['81d4010101', '/map key of type ext/'],
            'timestamp with nanoseconds' => ['d7ff000000045fee6600', '/nanoseconds 1 are finer than the microseconds/'],
            'timestamp of 3 bytes' => ['c703ff000000', '/4, 8 or 12 bytes, not 3/'],
        ];
    }

    /** @dataProvider unsupported */
    public function testRefusesWhatPhpCannotHold(string $hex, string $message): void
    {
        $this->expectException(UnsupportedValue::class);
        $this->expectExceptionMessageMatches($message);
        (new Decoder())->decode(hex2bin($hex));
    }

    public function testExtRoundTrips(): void
    {
        $hex = '93d4012ac7030501020381a174d6ff5fee6600';
        $value = (new Decoder())->decode(hex2bin($hex));
        $this->assertSame($hex, bin2hex((new Encoder())->encode($value)));
    }

    /**
     * The bytes ext-msgpack (php_only on, its default) turns into an object of a class named
     * by the peer. They must not create one here, whatever the ini says.
     */
    public function testObjectInjectionIsRefused(): void
    {
        // {nil: "ArrayObject", "x": 1}: ext-msgpack's own encoding of an object.
        $bytes = hex2bin('82c0ab41727261794f626a656374a17801');
        $previous = ini_set('msgpack.php_only', '1');
        try {
            $this->assertIsObject(@msgpack_unpack($bytes), 'the bytes are an attack with php_only on');
            try {
                (new Decoder())->decode($bytes);
                $this->fail('decoded an object map');
            } catch (UnsupportedValue $e) {
                $this->assertStringContainsString('map key of type nil', $e->getMessage());
            }
            // Even past the key check, the unpacker itself makes arrays, not objects.
            $this->assertSame(['' => 'ArrayObject', 'x' => 1], @(new \MessagePack(false))->unpack($bytes));
        } finally {
            ini_set('msgpack.php_only', (string) $previous);
        }
    }

    public function testRequestWithUnsupportedParamKeepsItsEnvelope(): void
    {
        // [0, 9, "echo", [18446744073709551615]]
        $message = (new MessageCodec())->decode(hex2bin('940009a46563686f91cfffffffffffffffff'));
        $this->assertInstanceOf(Request::class, $message);
        $this->assertSame(9, $message->id);
        $this->assertSame('echo', $message->method);
        $this->assertInstanceOf(UnsupportedValue::class, $message->unsupported);
    }

    public function testUnsupportedIdIsAProtocolError(): void
    {
        $this->expectException(ProtocolError::class);
        (new MessageCodec())->decode(hex2bin('9400cfffffffffffffffffa46563686f90'));
    }

    public function testMaxDepthCountsTheOutermostContainer(): void
    {
        $decoder = new Decoder();
        $this->assertSame([[]], $decoder->decode(hex2bin('9190'), 2));
        $this->expectException(ProtocolError::class);
        $decoder->decode(hex2bin('919190'), 2);
    }
}
