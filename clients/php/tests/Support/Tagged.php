<?php

declare(strict_types=1);

namespace Polyfork\Tests\Support;

use Polyfork\Ext;

/**
 * The tagged JSON values of protocol/testdata (SPEC 8) as PHP values, and PHP values in a
 * comparable form (floats by their bits, objects by their contents).
 */
final class Tagged
{
    /** Thrown by toPhp() for a value PHP cannot hold (an integer above PHP_INT_MAX). */
    public const NOT_REPRESENTABLE = 'not representable';

    /**
     * The PHP value that decoding the tagged value must give (SPEC 7 and the PHP README).
     *
     * @param array<string, mixed> $t
     */
    public static function toPhp(array $t): mixed
    {
        switch ($t['type']) {
            case 'nil':
                return null;
            case 'bool':
                return $t['value'];
            case 'int':
                $int = filter_var($t['value'], FILTER_VALIDATE_INT);
                if ($int === false) {
                    throw new \OverflowException(self::NOT_REPRESENTABLE);
                }
                return $int;
            case 'float32':
                return unpack('G', hex2bin($t['bits']))[1];
            case 'float64':
                return unpack('E', hex2bin($t['bits']))[1];
            case 'str':
                return $t['value'];
            case 'bin':
                return hex2bin($t['hex']);
            case 'array':
                if (isset($t['repeat'])) {
                    return array_fill(0, $t['repeat'], self::toPhp($t['item']));
                }
                return array_map([self::class, 'toPhp'], $t['items']);
            case 'map':
                $out = [];
                foreach ($t['entries'] as [$k, $v]) {
                    $out[self::toPhp($k)] = self::toPhp($v);
                }
                return $out;
            case 'ext':
                if ($t['ext_type'] === -1) {
                    $data = hex2bin($t['hex']);
                    $sec = unpack('N', $data)[1]; // the vectors hold timestamp32 only
                    return new \DateTimeImmutable('@' . $sec);
                }
                return new Ext($t['ext_type'], hex2bin($t['hex']));
        }
        throw new \LogicException('unknown tagged type ' . $t['type']);
    }

    /** $value with floats as "float:<bits>" and objects as arrays, for assertSame(). */
    public static function comparable(mixed $value): mixed
    {
        if (is_float($value)) {
            return 'float:' . bin2hex(pack('E', $value));
        }
        if (is_array($value)) {
            return array_map([self::class, 'comparable'], $value);
        }
        if ($value instanceof \DateTimeInterface) {
            return 'date:' . $value->format('U.u');
        }
        if ($value instanceof Ext) {
            return 'ext:' . $value->type . ':' . bin2hex($value->data);
        }
        return $value;
    }

    /** Whether the tagged value holds an int above PHP_INT_MAX anywhere. */
    public static function hasUint64(array $t): bool
    {
        return str_contains(json_encode($t), '"type":"int"') && self::anyBigInt($t);
    }

    private static function anyBigInt(array $t): bool
    {
        if ($t['type'] === 'int') {
            return filter_var($t['value'], FILTER_VALIDATE_INT) === false;
        }
        foreach ($t['items'] ?? [] as $item) {
            if (self::anyBigInt($item)) {
                return true;
            }
        }
        if (isset($t['item']) && self::anyBigInt($t['item'])) {
            return true;
        }
        foreach ($t['entries'] ?? [] as [$k, $v]) {
            if (self::anyBigInt($k) || self::anyBigInt($v)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The named cases of a vectors file.
     *
     * @return array<string, array{array<string, mixed>}>
     */
    public static function cases(string $file): array
    {
        $path = dirname(__DIR__, 4) . '/protocol/testdata/' . $file;
        $json = file_get_contents($path);
        if ($json === false) {
            throw new \RuntimeException('cannot read ' . $path);
        }
        $cases = [];
        foreach (json_decode($json, true, 1024, JSON_THROW_ON_ERROR) as $vector) {
            $cases[$vector['name']] = [$vector];
        }
        return $cases;
    }
}
