<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Codec\Decoder;
use Polyfork\Codec\Encoder;
use Polyfork\Exception\UnsupportedValue;
use Polyfork\Ext;
use Polyfork\Tests\Support\Tagged;

/**
 * The values of the npm package msgpack-test-suite (every encoding of each value, canonical
 * or not) through the PHP codec, read from the Node client's node_modules; skipped when it is
 * not installed.
 *
 * Each encoding must decode to the value, or be refused with UnsupportedValue where PHP
 * cannot hold it (uint64 above PHP_INT_MAX, timestamps finer than a microsecond); PHP's own
 * encoding must decode back to the same value, and differs from all of the suite's
 * encodings only in the documented cases (bin that is valid UTF-8, empty map).
 */
final class TestSuiteTest extends TestCase
{
    /**
     * The npm package's own file (installed by `npm ci` in clients/node, which CI and
     * scripts/setup.sh run). protocol/testdata/msgpack-test-suite.json holds the same values
     * in the tagged format of SPEC section 8; the Go conformance test echoes those through
     * this client's conformance child.
     */
    private const SOURCES = [
        '/clients/node/node_modules/msgpack-test-suite/dist/msgpack-test-suite.json',
    ];

    /** Cases whose PHP encoding is none of the suite's, with the documented reason. */
    private const DIFFERENT_ENCODING = [
        '12.binary.yaml #0' => 'empty bin is "": str',
        '12.binary.yaml #1' => 'bin 01 is valid UTF-8: str',
        '41.map.yaml #0' => 'empty map is []: empty array',
        '42.nested.yaml #1' => '[{}] is [[]]',
        '42.nested.yaml #2' => '{"a": {}} is {"a": []}',
    ];

    /** @return array<string, array{string, mixed, list<string>}> */
    public static function cases(): array
    {
        $root = dirname(__DIR__, 4);
        foreach (self::SOURCES as $source) {
            if (is_file($root . $source)) {
                return self::load(json_decode((string) file_get_contents($root . $source), true, 512, JSON_THROW_ON_ERROR));
            }
        }
        return ['msgpack-test-suite not installed' => ['', null, []]];
    }

    /**
     * @param list<string> $encodings hex
     * @dataProvider cases
     */
    public function testEveryEncoding(string $kind, mixed $expected, array $encodings): void
    {
        if ($kind === '') {
            $this->markTestSkipped('msgpack-test-suite.json not found (npm ci in clients/node installs it)');
        }
        $decoder = new Decoder();
        $encoder = new Encoder();
        $phpEncodings = [];
        foreach ($encodings as $hex) {
            $bytes = hex2bin($hex);
            try {
                $value = $decoder->decode($bytes);
            } catch (UnsupportedValue $e) {
                $this->assertTrue(self::unrepresentable($kind, $expected), "$hex refused: " . $e->getMessage());
                continue;
            }
            $this->assertFalse(self::unrepresentable($kind, $expected), "$hex should have been refused");
            $float = in_array(substr($hex, 0, 2), ['ca', 'cb'], true);
            $this->assertSame(Tagged::comparable(self::php($kind, $expected, $float)), Tagged::comparable($value), $hex);
            $again = $encoder->encode($value);
            $this->assertSame(Tagged::comparable($value), Tagged::comparable($decoder->decode($again)), "$hex re-encoded");
            $phpEncodings[] = bin2hex($again);
        }
        $name = $this->dataName();
        if ($phpEncodings !== [] && array_intersect($phpEncodings, $encodings) === []) {
            $this->assertArrayHasKey($name, self::DIFFERENT_ENCODING, 'PHP sends ' . $phpEncodings[0]);
        } else {
            $this->assertArrayNotHasKey($name, self::DIFFERENT_ENCODING);
        }
    }

    /** @return array<string, array{string, mixed, list<string>}> */
    private static function load(array $suite): array
    {
        $cases = [];
        foreach ($suite as $group => $entries) {
            foreach ($entries as $i => $entry) {
                $encodings = array_map(fn (string $h): string => str_replace('-', '', $h), $entry['msgpack']);
                unset($entry['msgpack']);
                $kind = isset($entry['bignum']) ? 'bignum' : (string) array_key_first($entry);
                $cases[sprintf('%s #%d', $group, $i)] = [$kind, $entry[$kind], $encodings];
            }
        }
        return $cases;
    }

    private static function unrepresentable(string $kind, mixed $expected): bool
    {
        return ($kind === 'bignum' && filter_var($expected, FILTER_VALIDATE_INT) === false)
            || ($kind === 'timestamp' && $expected[1] % 1000 !== 0);
    }

    /** The PHP value the suite's value decodes to. */
    private static function php(string $kind, mixed $v, bool $float): mixed
    {
        return match ($kind) {
            'binary' => (string) hex2bin(str_replace('-', '', $v)),
            'number' => $float ? (float) $v : $v,
            'bignum' => $float ? (float) $v : (int) $v,
            'map' => $v === [] ? [] : $v,
            'timestamp' => \DateTimeImmutable::createFromFormat('U u', sprintf('%d %06d', $v[0], intdiv($v[1], 1000))),
            'ext' => new Ext($v[0], (string) hex2bin(str_replace('-', '', $v[1]))),
            default => $v,
        };
    }
}
