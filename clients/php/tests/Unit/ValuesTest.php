<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Codec\Decoder;
use Polyfork\Codec\Encoder;
use Polyfork\Exception\UnsupportedValue;
use Polyfork\Tests\Support\Tagged;

/**
 * protocol/testdata/values.json, both ways: decode `hex` and compare with `value`, encode the
 * result and compare with `hex`, or with the documented PHP encoding where PHP cannot
 * round-trip (README "Values"): no uint64, one string type, one array type, no float32.
 */
final class ValuesTest extends TestCase
{
    /**
     * Vectors PHP re-encodes differently, by name, with the bytes it sends instead (hex).
     * float32 vectors are handled by rule: they come back as the same number in float64.
     */
    private const PHP_ENCODING = [
        'empty bin' => 'a0', // "" is valid UTF-8: str
        'empty map' => '90', // [] is an empty list
        'array of empty containers' => '949090a0a0',
    ];

    /** @return array<string, array{array<string, mixed>}> */
    public static function vectors(): array
    {
        return Tagged::cases('values.json');
    }

    /** @dataProvider vectors */
    public function testDecodesThenEncodes(array $vector): void
    {
        $bytes = hex2bin($vector['hex']);
        if (Tagged::hasUint64($vector['value'])) {
            $this->expectException(UnsupportedValue::class);
            $this->expectExceptionMessageMatches('/above PHP_INT_MAX/');
            (new Decoder())->decode($bytes);
            return;
        }
        $decoded = (new Decoder())->decode($bytes);
        $this->assertSame(Tagged::comparable(Tagged::toPhp($vector['value'])), Tagged::comparable($decoded));
        $this->assertSame(self::phpEncoding($vector), bin2hex((new Encoder())->encode($decoded, 128)));
    }

    /** Every vector that does not round-trip is listed here or has a documented rule. */
    public function testOnlyDocumentedVectorsDiffer(): void
    {
        $differ = [];
        foreach (self::vectors() as $name => [$vector]) {
            if (!Tagged::hasUint64($vector['value']) && self::phpEncoding($vector) !== $vector['hex']) {
                $differ[] = $name;
            }
        }
        $this->assertSame([
            'float32 1.5',
            'float32 -0.0',
            'float32 +Inf',
            'float32 max 3.4028234663852886e38',
            'empty bin',
            'bin32 65536 bytes',
            'empty map',
            'array of empty containers',
        ], $differ);
    }

    private static function phpEncoding(array $vector): string
    {
        $name = $vector['name'];
        if (isset(self::PHP_ENCODING[$name])) {
            return self::PHP_ENCODING[$name];
        }
        if ($vector['value']['type'] === 'float32') {
            return 'cb' . bin2hex(pack('E', Tagged::toPhp($vector['value'])));
        }
        if ($name === 'bin32 65536 bytes') {
            return 'db00010000' . substr($vector['hex'], 10); // zero bytes are valid UTF-8: str
        }
        return $vector['hex'];
    }
}
