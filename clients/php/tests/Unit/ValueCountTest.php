<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Codec\Decoder;
use Polyfork\Codec\Encoder;
use Polyfork\Exception\EncodingFailed;
use Polyfork\Exception\ProtocolError;
use Polyfork\Message\MessageCodec;

/**
 * The value-count limit of SPEC 3: every nil, bool, number, str, bin, ext, array and map
 * counts one, a map pair two, the outermost value included; more than the limit is refused
 * before anything is built (receiving) or sent (sending).
 */
final class ValueCountTest extends TestCase
{
    /** @return array<string, array{string, int, bool}> hex, limit, accepted */
    public static function received(): array
    {
        $list = static fn (int $n): string => 'dc' . sprintf('%04x', $n) . str_repeat('c0', $n);
        return [
            'list of 15 nils: 16 values, limit 16' => [$list(15), 16, true],
            'list of 16 nils: 17 values, limit 16' => [$list(16), 16, false],
            'map of 7 pairs: 15 values, limit 16' => ['87' . str_repeat('01c0', 7), 16, true],
            'map of 8 pairs: 17 values, limit 16' => ['88' . str_repeat('01c0', 8), 16, false],
            'nested: [[8 nils], [7 nils]] = 18 values, limit 17' => ['92' . '98' . str_repeat('c0', 8) . '97' . str_repeat('c0', 7), 17, false],
            'nested: the same, limit 18' => ['92' . '98' . str_repeat('c0', 8) . '97' . str_repeat('c0', 7), 18, true],
            'small frame (fewer bytes than the depth limit) still counted' => [$list(20), 16, false],
            'exts count one each' => ['93d40501d40502d40503', 4, true],
        ];
    }

    /** @dataProvider received */
    public function testCountsWhatItReceives(string $hex, int $limit, bool $accepted): void
    {
        $decoder = new Decoder($limit);
        if (!$accepted) {
            $this->expectException(ProtocolError::class);
            $this->expectExceptionMessageMatches("/frame holds more than the maximum of $limit values \\(POLYFORK_MAX_VALUES\\): the (array|map) of \\d+ (elements|pairs) at byte \\d+ brings the count to \\d+/");
        }
        $this->assertIsArray($decoder->decode(hex2bin($hex)));
    }

    public function testDefaultLimitIsExact(): void
    {
        $decoder = new Decoder();
        $this->assertSame(4_194_304, Decoder::MAX_VALUES);
        // An array of 4194303 empty arrays: 4194304 values, the limit.
        $this->assertCount(4_194_303, $decoder->decode("\xdd" . pack('N', 4_194_303) . str_repeat("\x90", 4_194_303)));
        try {
            $decoder->decode("\xdd" . pack('N', 4_194_304) . str_repeat("\x90", 4_194_304));
            $this->fail('decoded 4194305 values');
        } catch (ProtocolError $e) {
            $this->assertStringContainsString('the array of 4194304 elements at byte 0 brings the count to 4194305', $e->getMessage());
        }
    }

    public function testAMessageCountsItsEnvelope(): void
    {
        // [0, 1, "echo", [10 nils]]: 1 + 4 + 10 = 15 values.
        $body = "\x94\x00\x01\xa4echo\x9a" . str_repeat("\xc0", 10);
        $this->assertSame(array_fill(0, 10, null), (new MessageCodec(15))->decode($body)->params);
        $this->expectException(ProtocolError::class);
        (new MessageCodec(14))->decode($body);
    }

    /** @return array<string, array{mixed, int, ?string}> value, limit, error */
    public static function sent(): array
    {
        return [
            'list of 15: 16 values' => [range(1, 15), 16, null],
            'list of 16: 17 values' => [range(1, 16), 16, '/more than 16 values .* the container at value brings the count to 17; nothing was sent/'],
            'map of 7 pairs: 15 values' => [['a' => 1, 'b' => 2, 'c' => 3, 'd' => 4, 'e' => 5, 'f' => 6, 'g' => 7], 16, null],
            'map of 8 pairs: 17 values' => [array_combine(range('a', 'h'), range(1, 8)), 16, '/brings the count to 17/'],
            'nested, names where' => [[[1, 2], array_fill(0, 20, 0)], 16, "/the container at value\\[1\\] brings the count to 25/"],
            'stdClass pairs count two' => [(object) ['a' => 1, 'b' => 2, 'c' => 3, 'd' => 4, 'e' => 5, 'f' => 6, 'g' => 7, 'h' => 8], 16, '/brings the count to 17/'],
            'JsonSerializable counts its data' => [[new \ArrayIterator([]), 1], 16, '/cannot encode ArrayIterator/'],
        ];
    }

    /** @dataProvider sent */
    public function testCountsWhatItSends(mixed $value, int $limit, ?string $error): void
    {
        if ($error !== null) {
            $this->expectException(EncodingFailed::class);
            $this->expectExceptionMessageMatches($error);
        }
        $this->assertIsString((new Encoder($limit))->encode($value));
    }

    public function testAResultWithTooManyValuesIsRefusedWithTheLimit(): void
    {
        $codec = new MessageCodec(100);
        $this->assertIsString($codec->response(1, null, range(1, 95))); // 1 + 4 + 95 = 100
        $this->expectException(EncodingFailed::class);
        $this->expectExceptionMessageMatches('/^refusing to send a message of more than 100 values .* the container at result brings the count to 101/');
        $codec->response(1, null, range(1, 96));
    }
}
