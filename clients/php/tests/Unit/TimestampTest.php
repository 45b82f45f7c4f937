<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Codec\Decoder;
use Polyfork\Exception\UnsupportedValue;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Notification;
use Polyfork\Message\Request;
use Polyfork\Message\Response;

/**
 * Malformed timestamps (SPEC 3, ext -1 whose data is not 4, 8 or 12 bytes, or whose
 * nanoseconds exceed 999999999) fail the one value that carries them: UnsupportedValue
 * naming the problem, and a message that keeps its envelope. Never a ProtocolError.
 */
final class TimestampTest extends TestCase
{
    /** @return array<string, array{string, string}> ext bytes, expected message */
    public static function malformed(): array
    {
        return [
            'no data (ext8 of 0 bytes)' => ['c700ff', '/^timestamp at byte \d+: a timestamp has 4, 8 or 12 bytes, not 0$/'],
            'fixext1' => ['d4ff00', '/a timestamp has 4, 8 or 12 bytes, not 1$/'],
            'fixext2' => ['d5ff0000', '/not 2$/'],
            '5 bytes' => ['c705ff0000000001', '/not 5$/'],
            'fixext16' => ['d8ff' . str_repeat('00', 16), '/not 16$/'],
            'timestamp64, nanoseconds 1000000000' => ['d7ffee6b280000000001', '/^timestamp at byte \d+: nanoseconds 1000000000 are above 999999999$/'],
            'timestamp64, nanoseconds 2^30-1' => ['d7fffffffffc00000001', '/nanoseconds 1073741823 are above 999999999$/'],
            'timestamp96, nanoseconds 1000000000' => ['c70cff3b9aca000000000000000001', '/nanoseconds 1000000000 are above 999999999$/'],
            'timestamp96, nanoseconds 2^32-1' => ['c70cffffffffff0000000000000001', '/nanoseconds 4294967295 are above 999999999$/'],
        ];
    }

    /** @dataProvider malformed */
    public function testAMalformedTimestampIsAnUnsupportedValue(string $ext, string $message): void
    {
        $this->expectException(UnsupportedValue::class);
        $this->expectExceptionMessageMatches($message);
        (new Decoder())->decode(hex2bin($ext));
    }

    /** @dataProvider malformed */
    public function testItFailsTheMessageNotTheSession(string $ext, string $message): void
    {
        $codec = new MessageCodec();
        $request = $codec->decode(hex2bin('940007a46563686f92a161' . $ext));
        $this->assertInstanceOf(Request::class, $request);
        $this->assertSame([7, 'echo', []], [$request->id, $request->method, $request->params]);
        $this->assertMatchesRegularExpression($message, $request->unsupported?->getMessage() ?? '');

        $note = $codec->decode(hex2bin('9302a76d657373616765' . '91' . $ext));
        $this->assertInstanceOf(Notification::class, $note);
        $this->assertSame('message', $note->method);
        $this->assertInstanceOf(UnsupportedValue::class, $note->unsupported);

        $response = $codec->decode(hex2bin('940109c0' . $ext));
        $this->assertInstanceOf(Response::class, $response);
        $this->assertSame(9, $response->id);
        $this->assertInstanceOf(UnsupportedValue::class, $response->unsupported);
    }

    public function testTheLimitsThemselvesDecode(): void
    {
        $decoder = new Decoder();
        // timestamp64 with 999999000 ns (a whole number of microseconds) and timestamp96.
        $this->assertSame('1970-01-01 00:00:01.999999', $decoder->decode(hex2bin('d7ff' . bin2hex(pack('J', (999_999_000 << 34) | 1))))->format('Y-m-d H:i:s.u'));
        $this->assertSame('1970-01-01 00:00:01.999999', $decoder->decode(hex2bin('c70cff' . bin2hex(pack('NJ', 999_999_000, 1))))->format('Y-m-d H:i:s.u'));
    }
}
