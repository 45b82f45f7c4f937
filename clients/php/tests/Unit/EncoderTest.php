<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Bin;
use Polyfork\Codec\Encoder;
use Polyfork\Exception\EncodingFailed;
use Polyfork\Ext;

enum Suit: string
{
    case Hearts = 'H';
}

/** How PHP values are sent (README "Values"), beyond what the golden vectors cover. */
final class EncoderTest extends TestCase
{
    /** @return array<string, array{mixed, string}> */
    public static function encodings(): array
    {
        $obj = new \stdClass();
        $obj->a = 1;
        $list = new \stdClass();
        $list->{'0'} = 'x';
        return [
            'float 1.0 stays float64' => [1.0, 'cb3ff0000000000000'],
            'int 1' => [1, '01'],
            'PHP_INT_MIN' => [PHP_INT_MIN, 'd38000000000000000'],
            'UTF-8 string is str' => ['hé', 'a368c3a9'],
            'invalid UTF-8 string is bin' => ["\xff\xfe", 'c402fffe'],
            'invalid UTF-8 inside an array is bin' => [['ok', "\xc3"], '92a26f6bc401c3'],
            'Bin forces bin for UTF-8 bytes' => [new Bin('ab'), 'c4026162'],
            'list is array' => [[1, 2], '920102'],
            'empty array is an empty array' => [[], '90'],
            'array with gaps is a map' => [[0 => 'a', 2 => 'b'], '8200a16102a162'],
            'string keys keep their order' => [['b' => 1, 'a' => 2], '82a16201a16102'],
            'numeric string key is an int key' => [['1' => true], '8101c3'],
            'empty stdClass is an empty map' => [new \stdClass(), '80'],
            'stdClass is a map' => [$obj, '81a16101'],
            'stdClass with key 0 is still a map' => [$list, '8100a178'],
            'nested stdClass' => [['o' => new \stdClass()], '81a16f80'],
            'Ext fixext4' => [new Ext(5, 'abcd'), 'd60561626364'],
            'Ext ext8' => [new Ext(-2, 'abc'), 'c703fe616263'],
            'timestamp32' => [new \DateTimeImmutable('@1609459200'), 'd6ff5fee6600'],
            'timestamp64 with microseconds' => [new \DateTimeImmutable('2021-01-01 00:00:00.5 UTC'), 'd7ff773594005fee6600'],
            'timestamp96 before 1970' => [new \DateTimeImmutable('1969-12-31 23:59:59.5 UTC'), 'c70cff1dcd6500ffffffffffffffff'],
            'timestamp in another zone is the same instant' => [new \DateTime('2021-01-01 01:00:00', new \DateTimeZone('+01:00')), 'd6ff5fee6600'],
            'JsonSerializable' => [new \ArrayObject([1]), null],
            'BackedEnum is its value' => [Suit::Hearts, 'a148'],
        ];
    }

    /** @dataProvider encodings */
    public function testEncodes(mixed $value, ?string $hex): void
    {
        if ($hex === null) {
            $this->expectException(EncodingFailed::class);
            $this->expectExceptionMessageMatches('/cannot encode ArrayObject at value/');
        }
        $this->assertSame($hex, bin2hex((new Encoder())->encode($value)));
    }

    /** @return array<string, array{mixed, string}> */
    public static function refusals(): array
    {
        $deep = [];
        for ($i = 0; $i < 127; $i++) {
            $deep = [$deep];
        }
        $self = [1];
        $self[] = &$self;
        return [
            'closure' => [['f' => fn () => 1], '/cannot encode Closure at value\[\'f\'\]/'],
            'object' => [[new \SplStack()], '/cannot encode SplStack at value\[0\]/'],
            'resource' => [[STDERR], '/cannot encode resource \(stream\) at value\[0\]/'],
            'too deep' => [$deep, '/goes past the limit of 126 nested containers/'],
            'array that contains itself' => [$self, '/limit of 126 nested containers.*contains itself/'],
            'key not UTF-8' => [["\xff" => 1], '/map key at value\[ff \(hex\)\] is not valid UTF-8/'],
        ];
    }

    /** @dataProvider refusals */
    public function testRefuses(mixed $value, string $message): void
    {
        $this->expectException(EncodingFailed::class);
        $this->expectExceptionMessageMatches($message);
        (new Encoder())->encode($value);
    }

    public function testJsonSerializableIsItsData(): void
    {
        $value = new class () implements \JsonSerializable {
            public function jsonSerialize(): mixed
            {
                return ['k' => "\xff"];
            }
        };
        $this->assertSame('81a16bc401ff', bin2hex((new Encoder())->encode($value)));
    }

    public function testDeepestAllowedValue(): void
    {
        $deep = [];
        for ($i = 0; $i < 125; $i++) {
            $deep = [$deep];
        }
        $this->assertSame(str_repeat('91', 125) . '90', bin2hex((new Encoder())->encode($deep)));
    }

    /**
     * Strings for isUtf8(): every length around the thresholds (mbstring under SHORT, the
     * ASCII match, then PCRE's check), with a non-ASCII or an invalid sequence first, in the
     * middle and as the last bytes.
     *
     * @return list<string>
     */
    public static function utf8Cases(): array
    {
        $bad = ["\x80", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xff", "\xe2\x82"];
        $good = ["\x00", "\x7f", "\u{e9}", "\u{20ac}", "\u{1f600}", "\u{10ffff}", "\u{d7ff}", "\u{e000}"];
        $cases = ['', "\x00"];
        foreach ([1, 30, 31, 32, 33, 127, 128, 1024, 70000] as $n) {
            $ascii = substr(str_repeat("The quick brown fox.\x01\x7f ", intdiv($n, 20) + 1), 0, $n);
            $cases[] = $ascii;
            foreach (array_merge($bad, $good) as $seq) {
                $cases[] = $seq . $ascii;
                $cases[] = substr($ascii, 0, intdiv($n, 2)) . $seq . substr($ascii, intdiv($n, 2));
                $cases[] = $ascii . $seq;
            }
        }
        return $cases;
    }

    public function testIsUtf8AgreesWithMbstring(): void
    {
        foreach (self::utf8Cases() as $s) {
            $fresh = substr(' ' . $s, 1); // a new string: PHP remembers what PCRE found valid
            $this->assertSame(mb_check_encoding($s, 'UTF-8'), Encoder::isUtf8($fresh), bin2hex(substr($s, 0, 40)) . ', ' . \strlen($s) . ' bytes');
        }
    }

    public function testIsUtf8AgreesWithMbstringWithoutPcresJit(): void
    {
        // The ASCII match is skipped without the JIT; pcre.jit is read when isUtf8() is first
        // used, so this runs in a PHP of its own.
        $script = 'require ' . var_export(\dirname(__DIR__, 2) . '/autoload.php', true) . ';'
            . '$n = 0; foreach (unserialize(stream_get_contents(STDIN)) as $s) {'
            . ' if (Polyfork\Codec\Encoder::isUtf8(substr(" " . $s, 1)) !== mb_check_encoding($s, "UTF-8")) { echo bin2hex($s), "\n"; } $n++; }'
            . ' echo "checked $n";';
        $php = proc_open([PHP_BINARY, '-d', 'pcre.jit=0', '-r', $script], [['pipe', 'r'], ['pipe', 'w'], STDERR], $pipes);
        $this->assertIsResource($php);
        fwrite($pipes[0], serialize(self::utf8Cases()));
        fclose($pipes[0]);
        $out = stream_get_contents($pipes[1]);
        fclose($pipes[1]);
        $this->assertSame(0, proc_close($php));
        $this->assertSame('checked ' . \count(self::utf8Cases()), $out);
    }

    public function testLongStringsAreStrOrBinAsTheirBytesAre(): void
    {
        $encoder = new Encoder();
        $ascii = str_repeat('a', 40);
        $this->assertSame("\xd9\x28" . $ascii, $encoder->encode($ascii));
        $this->assertSame("\xc4\x29" . $ascii . "\xff", $encoder->encode($ascii . "\xff"));
        $this->assertSame("\xd9\x2a" . $ascii . "\u{e9}", $encoder->encode($ascii . "\u{e9}"));
        $this->assertSame("\x92\xc4\x29" . $ascii . "\xff\xa1x", $encoder->encode([$ascii . "\xff", 'x']));
    }
}
