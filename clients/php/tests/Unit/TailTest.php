<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Exception\ProtocolError;
use Polyfork\Message\MessageCodec;

/**
 * A large frame that ends in one string is handed out in two parts (FrameReader::$tail):
 * MessageCodec::tailAt() says where the string starts, and decodeWithTail() builds the
 * message around it. These tests hold both to decode() of the whole body: the same message,
 * or the same error quoting the same bytes, for every shape, header and mutation.
 */
final class TailTest extends TestCase
{
    /** The string headers a tail can have: str and bin with an 8, 16 and 32-bit length. */
    private static function header(string $kind, int $bits, int $n): string
    {
        $first = ['str' => [8 => 0xd9, 16 => 0xda, 32 => 0xdb], 'bin' => [8 => 0xc4, 16 => 0xc5, 32 => 0xc6]][$kind][$bits];
        return \chr($first) . match ($bits) {
            8 => \chr($n),
            16 => pack('n', $n),
            32 => pack('N', $n),
        };
    }

    /**
     * Bodies of every shape decodeWithTail() takes, with an id of every width.
     *
     * @return array<string, array{string, bool}> the body, and whether its string is a str
     */
    public static function bodies(): array
    {
        return self::bodiesOf(0);
    }

    /**
     * bodies(), with strings of $length bytes each (0: 200, 3000 and 70000 bytes, each one
     * needing its header's width).
     *
     * @return array<string, array{string, bool}>
     */
    private static function bodiesOf(int $length): array
    {
        $cases = [];
        $ids = ['fixint' => "\x07", 'uint8' => "\xcc\xc8", 'uint16' => "\xcd\x01\x00", 'uint32' => "\xce\x00\x01\x00\x00"];
        foreach (['str', 'bin'] as $kind) {
            foreach ([8 => 200, 16 => 3000, 32 => 70000] as $bits => $n) {
                $n = $length ?: $n;
                $string = self::header($kind, $bits, $n) . str_repeat('v', $n);
                $text = $kind === 'str';
                foreach ($ids as $width => $id) {
                    $cases["request, $width id, $kind$bits"] = ["\x94\x00" . $id . "\xa4echo\x91" . $string, $text];
                    $cases["response, $width id, $kind$bits"] = ["\x94\x01" . $id . "\xc0" . $string, $text];
                }
                $cases["notification, $kind$bits"] = ["\x93\x02\xa7message\x91" . $string, $text];
                $cases["request, empty method, $kind$bits"] = ["\x94\x00\x01\xa0\x91" . $string, $text];
            }
        }
        $cases['request, empty string'] = ["\x94\x00\x01\xa4echo\x91\xdb\x00\x00\x00\x00", true];
        return $cases;
    }

    /** decode() of $body, or the error it throws, as one comparable value. */
    private static function outcome(callable $decode): mixed
    {
        try {
            return $decode();
        } catch (ProtocolError $e) {
            return 'ProtocolError: ' . $e->getMessage();
        }
    }

    /** @dataProvider bodies */
    public function testTheTailIsFoundAndTheMessageIsTheWholeBodys(string $body, bool $str): void
    {
        $codec = new MessageCodec();
        $at = MessageCodec::tailAt($body, 0, \strlen($body));
        $this->assertGreaterThan(0, $at, 'a shape with a tail');
        $this->assertSame(str_repeat('v', \strlen($body) - $at), substr($body, $at), 'the tail is the string\'s bytes');
        $this->assertEquals($codec->decode($body), $codec->decodeWithTail(substr($body, 0, $at), substr($body, $at), $text));
        $this->assertSame($str, $text, 'whether the string arrived as a str');
        // The same with the body after other bytes (a buffer holding the length prefix).
        $this->assertSame($at, MessageCodec::tailAt("\x00\x00\x00\x00" . $body, 4, \strlen($body)));
    }

    /** @return array<string, array{string}> */
    public static function notTails(): array
    {
        $s = "\xdb\x00\x00\x00\x03abc";
        return [
            'two params' => ["\x94\x00\x01\xa4echo\x92\x01" . $s],
            'a param that is not a string' => ["\x94\x00\x01\xa4echo\x91\xdd\x00\x00\x00\x01\xc0"],
            'a fixstr param' => ["\x94\x00\x01\xa4echo\x91\xa3abc"],
            'a str8 method' => ["\x94\x00\x01\xd9\x04echo\x91" . $s],
            'a response with an error' => ["\x94\x01\x01\x81\xa4type\xa1x" . $s],
            'a uint64 id' => ["\x94\x00\xcf\x00\x00\x00\x00\x00\x00\x00\x01\xa4echo\x91" . $s],
            'a negative id' => ["\x94\x00\xff\xa4echo\x91" . $s],
            'a string shorter than the frame' => ["\x94\x00\x01\xa4echo\x91" . $s . "\xc0"],
            'a string longer than the frame' => ["\x94\x00\x01\xa4echo\x91\xdb\x00\x00\x00\x04abc"],
            'a header cut short' => ["\x94\x00\x01\xa4echo\x91\xdb\x00\x00"],
            'a map' => ["\x81\xa1k" . $s],
            'nothing' => [''],
        ];
    }

    /** @dataProvider notTails */
    public function testOtherShapesHaveNoTail(string $body): void
    {
        $this->assertSame(-1, MessageCodec::tailAt($body, 0, \strlen($body)));
    }

    /**
     * Whatever the split, decodeWithTail() gives decode()'s outcome for the joined bytes: a
     * split tailAt() would not make (the fallback), a bad method or id in the head, a header
     * that does not match the tail.
     */
    public function testAnySplitOfAnyBodyDecodesAsTheWholeBody(): void
    {
        $codec = new MessageCodec();
        // Short strings (with headers wider than they need, which msgpack allows): many
        // mutations land in the head.
        $seeds = array_merge(array_column(self::bodiesOf(3), 0), array_column(self::notTails(), 0), [
            "\x94\x00\x01\xa2\xff\xfe\x91\xdb\x00\x00\x00\x03abc", // a method that is not UTF-8
            "\x93\x02\xa4\$bad\x91\xc4\x03abc",
        ]);
        mt_srand(20261204);
        $checked = 0;
        $split = 0;
        foreach ($seeds as $seed) {
            for ($i = 0; $i < 150; $i++) {
                $body = $seed;
                for ($flips = mt_rand(0, 2); $flips > 0 && $body !== ''; $flips--) {
                    $body[mt_rand(0, \strlen($body) - 1)] = \chr(mt_rand(0, 255));
                }
                $at = MessageCodec::tailAt($body, 0, \strlen($body));
                $cut = $at > 0 && mt_rand(0, 1) === 1 ? $at : mt_rand(0, \strlen($body));
                $split += $cut === $at ? 1 : 0;
                $want = self::outcome(fn () => $codec->decode($body));
                $text = null;
                $got = self::outcome(function () use ($codec, $body, $cut, &$text) {
                    return $codec->decodeWithTail(substr($body, 0, $cut), substr($body, $cut), $text);
                });
                $this->assertEquals($want, $got, sprintf('body %s split at %d', bin2hex($body), $cut));
                if ($cut !== $at) {
                    $this->assertFalse($text, 'no str tail in a split tailAt() would not make');
                }
                $checked++;
            }
        }
        $this->assertGreaterThan(1000, $split, 'splits where tailAt() found a tail');
        $this->assertSame(\count($seeds) * 150, $checked);
    }

    public function testAnErrorInTheHeadQuotesTheRealBytes(): void
    {
        $codec = new MessageCodec();
        $body = "\x94\x00\x01\xa2\xff\xfe\x91\xdb\x00\x00\x00\x03abc";
        $at = MessageCodec::tailAt($body, 0, \strlen($body));
        $this->assertSame(\strlen($body) - 3, $at);
        try {
            $codec->decodeWithTail(substr($body, 0, $at), 'abc');
            $this->fail('a method that is not UTF-8 is a protocol error');
        } catch (ProtocolError $e) {
            $this->assertStringContainsString('the method is not valid UTF-8', $e->getMessage());
            $this->assertStringContainsString('91db00000003616263', $e->getMessage(), 'the string header, not a placeholder');
        }
    }
}
