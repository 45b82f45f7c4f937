<?php

declare(strict_types=1);

namespace Polyfork\Codec;

use Polyfork\Exception\UnsupportedValue;

/**
 * The msgpack timestamp ext (type -1) <-> DateTimeImmutable in UTC. PHP dates hold
 * microseconds, so a timestamp whose nanoseconds are not a whole number of microseconds is
 * refused instead of rounded.
 */
final class Timestamp
{
    /** The msgpack ext type of timestamps. */
    public const TYPE = -1;

    /** Decodes the payload $data of a timestamp ext found at byte $offset. */
    public static function decode(string $data, int $offset): \DateTimeImmutable
    {
        switch (\strlen($data)) {
            case 4:
                $sec = unpack('N', $data)[1];
                $nsec = 0;
                break;
            case 8:
                $both = unpack('J', $data)[1];
                $nsec = ($both >> 34) & 0x3fffffff;
                $sec = $both & 0x3ffffffff;
                break;
            case 12:
                ['n' => $nsec, 's' => $sec] = unpack('Nn/Js', $data);
                break;
            default:
                throw UnsupportedValue::timestamp(sprintf('a timestamp has 4, 8 or 12 bytes, not %d', \strlen($data)), $offset);
        }
        if ($nsec > 999_999_999) {
            throw UnsupportedValue::timestamp(sprintf('nanoseconds %d are above 999999999', $nsec), $offset);
        }
        if ($nsec % 1000 !== 0) {
            throw UnsupportedValue::timestamp(sprintf(
                'nanoseconds %d are finer than the microseconds a PHP DateTimeImmutable holds',
                $nsec
            ), $offset);
        }
        $date = \DateTimeImmutable::createFromFormat('U u', sprintf('%d %06d', $sec, intdiv($nsec, 1000)), new \DateTimeZone('UTC'));
        if ($date === false) {
            throw UnsupportedValue::timestamp(sprintf('%d seconds since the epoch is outside what PHP dates hold', $sec), $offset);
        }
        return $date->setTimezone(new \DateTimeZone('UTC'));
    }

    /** Encodes $date as the shortest timestamp ext (timestamp32, 64 or 96), header included. */
    public static function encode(\DateTimeInterface $date): string
    {
        $sec = $date->getTimestamp();
        $nsec = (int) $date->format('u') * 1000;
        if ($sec >= 0 && $sec <= 0x3ffffffff) {
            if ($nsec === 0 && $sec <= 0xffffffff) {
                return "\xd6\xff" . pack('N', $sec);
            }
            return "\xd7\xff" . pack('J', ($nsec << 34) | $sec);
        }
        return "\xc7\x0c\xff" . pack('NJ', $nsec, $sec);
    }
}
