<?php

declare(strict_types=1);

namespace Polyfork\Tests\Unit;

use PHPUnit\Framework\TestCase;
use Polyfork\Tests\Support\GoFuzzCorpus;

/** The reader of Go's fuzz corpus format, used by FuzzCorpusTest. */
final class GoFuzzCorpusTest extends TestCase
{
    /** @return array<string, array{string, string}> Go literal, bytes */
    public static function literals(): array
    {
        return [
            'plain' => ['"abc"', 'abc'],
            'hex escapes' => ['"\x94\x00\xff"', "\x94\x00\xff"],
            'octal' => ['"\377\000\101"', "\xff\x00A"],
            'C escapes' => ['"\a\b\f\n\r\t\v\\\\\"\'"', "\x07\x08\x0c\n\r\t\x0b\\\"'"],
            'unicode' => ['"\u00e9\U0001F600"', "é\u{1F600}"],
            'UTF-8 as is' => ['"é"', 'é'],
            'raw string' => ['`a\x00"b`', 'a\x00"b'],
        ];
    }

    /** @dataProvider literals */
    public function testReadsGoStringLiterals(string $literal, string $bytes): void
    {
        $this->assertSame(bin2hex($bytes), bin2hex(GoFuzzCorpus::literal($literal)));
    }

    public function testReadsAFileAndSkipsValuesThatAreNotBytes(): void
    {
        $file = "go test fuzz v1\n[]byte(\"\\x94\\x010\")\nint(5)\nstring(\"hi\")\nbool(true)\n";
        $this->assertSame(["\x94\x010", 'hi'], GoFuzzCorpus::parse($file));
    }

    public function testRefusesWhatIsNotACorpusFile(): void
    {
        $this->expectException(\UnexpectedValueException::class);
        $this->expectExceptionMessage('first line is not "go test fuzz v1"');
        GoFuzzCorpus::parse("[]byte(\"\")\n");
    }

    public function testRefusesABadEscape(): void
    {
        $this->expectException(\UnexpectedValueException::class);
        GoFuzzCorpus::parse("go test fuzz v1\n[]byte(\"\\x9\")\n");
    }
}
