<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Exception\ProtocolError;
use Polyfork\Frame\FrameReader;
use Polyfork\Message\MessageCodec;
use Polyfork\Tests\Support\Tagged;

/** protocol/testdata/invalid.json: every frame is a ProtocolError, with memory bounded. */
final class InvalidTest extends TestCase
{
    /** What each error message must say, by vector name (the rest: any ProtocolError). */
    private const MESSAGES = [
        'length 0' => '/length 0/',
        'length 0xFFFFFFFF' => '/4294967295 bytes is larger than the maximum frame size of 67108864/',
        'length prefix cut short' => '/truncated frame: end of file after 2 of the 4 bytes of the length prefix/',
        'body cut short' => '/truncated frame: end of file after 2 of the 10 bytes of the body/',
        'trailing bytes after the message' => '/1 bytes left over/',
        'array32 header claiming 2^32-1 elements (decode bomb)' => '/array of 4294967295 elements cannot fit/',
        'map32 header claiming 2^32-1 pairs (decode bomb)' => '/cannot fit/',
        'str32 claiming 4 GiB' => '/str length 4294967295 is larger than the 0 bytes left/',
        'nesting 129 deep' => '/nest deeper than the limit of 128/',
        'nesting 10000 deep' => '/nest deeper than the limit of 128/',
        'reserved code 0xc1' => '/0xc1/',
        'invalid UTF-8 in method' => '/not valid UTF-8/',
        'method as bin' => '/method is a msgpack str/',
        'params as a map' => '/params are a msgpack array/',
    ];

    /** @return array<string, array{array<string, mixed>}> */
    public static function vectors(): array
    {
        return Tagged::cases('invalid.json');
    }

    /** @dataProvider vectors */
    public function testIsRejected(array $vector): void
    {
        $stream = fopen('php://memory', 'w+b');
        fwrite($stream, hex2bin($vector['hex']));
        rewind($stream);
        $before = memory_get_usage();
        try {
            $body = (new FrameReader($stream, 1 << 26))->read();
            $this->assertNotNull($body, 'a whole frame or an error');
            (new MessageCodec())->decode($body);
            $this->fail('accepted: ' . $vector['reason']);
        } catch (ProtocolError $e) {
            $this->assertMatchesRegularExpression(self::MESSAGES[$vector['name']] ?? '/./', $e->getMessage());
        }
        $this->assertLessThan(1 << 20, memory_get_usage() - $before, 'no large allocation');
    }
}
