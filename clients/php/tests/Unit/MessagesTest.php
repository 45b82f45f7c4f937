<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Frame\FrameReader;
use Polyfork\Frame\FrameWriter;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Notification;
use Polyfork\Message\Request;
use Polyfork\Message\Response;
use Polyfork\Tests\Support\Tagged;

/** protocol/testdata/messages.json: whole frames, read and written byte for byte. */
final class MessagesTest extends TestCase
{
    /** @return array<string, array{array<string, mixed>}> */
    public static function vectors(): array
    {
        return Tagged::cases('messages.json');
    }

    /** @dataProvider vectors */
    public function testReads(array $vector): void
    {
        $expected = $vector['message'];
        $message = (new MessageCodec())->decode(self::readFrame(hex2bin($vector['hex'])));
        switch ($expected['kind']) {
            case 0:
                $this->assertInstanceOf(Request::class, $message);
                $this->assertSame($expected['id'], $message->id);
                $this->assertSame($expected['method'], $message->method);
                $this->assertSame(Tagged::comparable(Tagged::toPhp($expected['params'])), Tagged::comparable($message->params));
                break;
            case 1:
                $this->assertInstanceOf(Response::class, $message);
                $this->assertSame($expected['id'], $message->id);
                $this->assertSame(self::error($expected['error']), $message->error);
                $this->assertSame(Tagged::comparable(Tagged::toPhp($expected['result'])), Tagged::comparable($message->result));
                break;
            default:
                $this->assertInstanceOf(Notification::class, $message);
                $this->assertSame($expected['method'], $message->method);
                $this->assertSame(Tagged::comparable(Tagged::toPhp($expected['params'])), Tagged::comparable($message->params));
        }
        $this->assertNull($message->unsupported);
    }

    /** @dataProvider vectors */
    public function testWrites(array $vector): void
    {
        $m = $vector['message'];
        $codec = new MessageCodec();
        $body = match ($m['kind']) {
            0 => $codec->request($m['id'], $m['method'], Tagged::toPhp($m['params'])),
            1 => $codec->response($m['id'], self::error($m['error']), Tagged::toPhp($m['result'])),
            default => $codec->notification($m['method'], Tagged::toPhp($m['params'])),
        };
        $stream = fopen('php://memory', 'w+b');
        (new FrameWriter($stream, 1 << 26))->write($body);
        rewind($stream);
        $this->assertSame($vector['hex'], bin2hex(stream_get_contents($stream)));
    }

    /** The error map of a vector, its tagged `data` as a PHP value. */
    private static function error(?array $error): ?array
    {
        if (isset($error['data'])) {
            $error['data'] = Tagged::toPhp($error['data']);
        }
        return $error;
    }

    private static function readFrame(string $bytes): string
    {
        $stream = fopen('php://memory', 'w+b');
        fwrite($stream, $bytes);
        rewind($stream);
        $reader = new FrameReader($stream, 1 << 26);
        $body = $reader->read();
        self::assertNotNull($body);
        self::assertNull($reader->read(), 'one frame per vector');
        return $body;
    }
}
