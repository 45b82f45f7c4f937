<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Exception\ProtocolError;
use Polyfork\Frame\FrameReader;
use Polyfork\Message\MessageCodec;

/**
 * FrameReader on a real pipe from another process: a read returns at most what the pipe
 * holds, so whole frames take many reads; poll() never blocks past its timeout.
 */
final class FrameReaderTest extends TestCase
{
    /** @var resource|null */
    private $process = null;

    /** @var array<int, resource> */
    private array $pipes = [];

    protected function tearDown(): void
    {
        foreach ($this->pipes as $pipe) {
            if (is_resource($pipe)) {
                fclose($pipe);
            }
        }
        if ($this->process !== null) {
            proc_close($this->process);
        }
    }

    /** Starts a php process running $code; returns its stdout. */
    private function writer(string $code)
    {
        $php = getenv('POLYFORK_PHP') ?: 'php';
        $this->process = proc_open([$php, '-r', $code], [0 => ['pipe', 'r'], 1 => ['pipe', 'w']], $this->pipes);
        $this->assertIsResource($this->process);
        return $this->pipes[1];
    }

    /** @return array<string, array{int, int}> */
    public static function pieces(): array
    {
        return [
            'one byte at a time' => [300, 1],
            '1 MiB in 1000-byte writes' => [1 << 20, 1000],
            '3 MiB in 100 KiB writes' => [3 << 20, 100 << 10],
        ];
    }

    /** @dataProvider pieces */
    public function testReadsUntilTheFrameIsComplete(int $size, int $piece): void
    {
        $out = $this->writer(sprintf(
            '$f = pack("N", %1$d) . str_repeat("\xab", %1$d) . pack("N", 1) . "\xc0";'
            . 'foreach (str_split($f, %2$d) as $p) { fwrite(STDOUT, $p); fflush(STDOUT); }',
            $size,
            $piece
        ));
        $reader = new FrameReader($out, 1 << 26);
        $this->assertSame(str_repeat("\xab", $size), $reader->read());
        $this->assertSame("\xc0", $reader->read());
        $this->assertNull($reader->read(), 'end of file between frames');
    }

    public function testHandsOutManyFramesOfOneReadInOrder(): void
    {
        // 3000 frames in one write: the first read takes 64 KiB of them, the last one of
        // those cut in two; hasFrame() says whether the next read() needs the stream.
        $out = $this->writer('$f = ""; for ($i = 0; $i < 3000; $i++) { $b = str_repeat(chr($i % 256), $i % 50 + 1); $f .= pack("N", strlen($b)) . $b; } fwrite(STDOUT, $f);');
        $reader = new FrameReader($out, 1 << 26);
        $withoutStream = 0;
        for ($i = 0; $i < 3000; $i++) {
            $withoutStream += $reader->hasFrame() ? 1 : 0;
            $this->assertSame(str_repeat(chr($i % 256), $i % 50 + 1), $reader->read(), "frame $i");
        }
        $this->assertFalse($reader->hasFrame());
        $this->assertNull($reader->read());
        $this->assertGreaterThan(1000, $withoutStream, 'frames handed out from the buffer');
    }

    public function testAFrameOverTheMaximumIsRefusedEvenWhenBuffered(): void
    {
        $out = $this->writer('fwrite(STDOUT, pack("N", 1) . "\xc0" . pack("N", 20) . str_repeat("a", 20));');
        $reader = new FrameReader($out, 10);
        $this->assertSame("\xc0", $reader->read());
        $this->assertTrue($reader->hasFrame(), 'a bad length is reported at once');
        $this->expectException(ProtocolError::class);
        $this->expectExceptionMessage('frame of 20 bytes is larger than the maximum frame size of 10 bytes');
        $reader->read();
    }

    public function testPollReturnsFalseWhileNothingArrivedThenTheFrame(): void
    {
        $out = $this->writer('fgets(STDIN); echo pack("N", 2), "\x91\x01";');
        $reader = new FrameReader($out, 1 << 26);
        $this->assertFalse($reader->poll(0.0));
        $this->assertFalse($reader->poll(0.01));
        fwrite($this->pipes[0], "go\n");
        $this->assertSame("\x91\x01", $reader->poll(30.0));
        $this->assertNull($reader->poll(30.0), 'end of file');
    }

    public function testPollKeepsAPartialFrameForRead(): void
    {
        $out = $this->writer('echo pack("N", 4), "\x93"; fflush(STDOUT); fgets(STDIN); echo "\x01\x02\x03";');
        $reader = new FrameReader($out, 1 << 26);
        $this->assertFalse($reader->poll(0.05));
        fwrite($this->pipes[0], "go\n");
        $this->assertSame("\x93\x01\x02\x03", $reader->read());
    }

    /** PHP code defining $s: $n bytes counting up in uint32s (a misplaced piece shows). */
    private static function countingCode(int $n): string
    {
        return sprintf('$s = ""; for ($i = 0; strlen($s) < %1$d; $i++) { $s .= pack("N", $i); } $s = substr($s, 0, %1$d);', $n);
    }

    /** @return array<string, array{int, int}> */
    public static function tails(): array
    {
        return [
            '1 MiB in 100 KiB writes (grown in place)' => [1 << 20, 100 << 10],
            '1 MiB in one write' => [1 << 20, 2 << 20],
            '3 MiB in 1 MiB writes (pieces joined once)' => [3 << 20, 1 << 20],
            'the smallest frame asked about (64 KiB)' => [65536 - 14, 1000],
        ];
    }

    /**
     * With a tail finder, a large frame whose message ends in a string comes out in two
     * parts: read() returns the body up to the string's bytes, $tail holds them. Other frames
     * come out whole, and the caller's clearing of $tail is all that resets it.
     *
     * @dataProvider tails
     */
    public function testHandsOutTheTrailingStringOfALargeFrameOnItsOwn(int $n, int $piece): void
    {
        $head = "\x94\x00\x01\xa4echo\x91\xdb" . pack('N', $n);
        $small = "\x94\x00\x02\xa4echo\x91\xdb" . pack('N', 1000) . str_repeat('s', 1000); // under 64 KiB
        $two = "\x94\x00\x03\xa4echo\x92\xc0\xdb" . pack('N', 70000) . str_repeat('t', 70000); // two params
        // (The frames are built by the writer: an argument of 128 KiB is more than exec takes.)
        $out = $this->writer(self::countingCode($n) . sprintf(
            '$f = pack("N", %d + strlen($s)) . hex2bin("%s") . $s;'
            . ' foreach (["\x94\x00\x02\xa4echo\x91\xdb" . pack("N", 1000) . str_repeat("s", 1000), "\x94\x00\x03\xa4echo\x92\xc0\xdb" . pack("N", 70000) . str_repeat("t", 70000)] as $b) { $f .= pack("N", strlen($b)) . $b; }'
            . ' foreach (str_split($f, %d) as $p) { fwrite(STDOUT, $p); fflush(STDOUT); }',
            \strlen($head),
            bin2hex($head),
            $piece
        ));
        $reader = new FrameReader($out, 1 << 26, MessageCodec::tailAt(...));
        $this->assertSame(bin2hex($head), bin2hex($reader->read()), 'the body up to the string');
        eval(self::countingCode($n));
        $this->assertSame(md5($s), md5($reader->tail ?? ''), 'the string, whole and in order');
        $reader->tail = null;
        $this->assertSame(md5($small), md5($reader->read()), 'a frame under 64 KiB comes whole');
        $this->assertSame(md5($two), md5($reader->read()), 'a frame of another shape comes whole');
        $this->assertNull($reader->tail);
        $this->assertNull($reader->read());
    }

    public function testEndOfFileInsideATrailingStringIsATruncatedFrame(): void
    {
        $out = $this->writer('echo pack("N", 100014), "\x94\x00\x01\xa4echo\x91\xdb", pack("N", 100000), str_repeat("x", 80000);');
        $reader = new FrameReader($out, 1 << 26, MessageCodec::tailAt(...));
        $this->expectException(ProtocolError::class);
        $this->expectExceptionMessage('truncated frame: end of file after 80014 of the 100014 bytes of the body');
        $reader->read();
    }

    public function testEndOfFileInsideABodyIsATruncatedFrame(): void
    {
        $out = $this->writer('echo pack("N", 100000), str_repeat("x", 70000);');
        $this->expectException(ProtocolError::class);
        $this->expectExceptionMessage('truncated frame: end of file after 70000 of the 100000 bytes of the body');
        (new FrameReader($out, 1 << 26))->read();
    }
}
