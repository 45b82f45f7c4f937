<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Tests\Support\TestHost;

/**
 * The limits of SPEC 3 in a real child: what the host sends over them ends the session with
 * one clear line and status 1, before the child builds anything; what the child would send
 * over them is refused with EncodingFailed, and the session goes on.
 */
final class LimitsTest extends TestCase
{
    private const CHILD = __DIR__ . '/../fixtures/limits_child.php';
    private const CONFORMANCE = __DIR__ . '/../conformance_child.php';
    private const REPORT_PEAK = __DIR__ . '/../fixtures/report_peak.php';

    /** @var list<TestHost> */
    private array $hosts = [];

    protected function tearDown(): void
    {
        foreach ($this->hosts as $host) {
            $host->close();
        }
    }

    private function start(string $script = self::CHILD, array $env = [], array $phpArgs = [], bool $handshake = true): TestHost
    {
        return $this->hosts[] = new TestHost($script, $env, $phpArgs, $handshake);
    }

    /**
     * 16 MiB of empty arrays is 16 million PHP arrays, about 1.5 GB, if decoded; counted
     * first, it is refused with the memory of the frame itself. The child's memory_limit is
     * 512M so that, without the count, it fails (out of memory) instead of taking the machine.
     */
    public function testSixteenMiBOfEmptyArraysIsRefusedWithoutBuildingThem(): void
    {
        $host = $this->start(self::CONFORMANCE, [], ['-d', 'memory_limit=512M', '-d', 'auto_prepend_file=' . self::REPORT_PEAK]);
        $n = 16 << 20;
        $body = "\x94\x00\x01\xa4echo\xdd" . pack('N', $n) . str_repeat("\x90", $n);
        $host->writeRaw(pack('N', strlen($body)) . $body);
        $this->assertNull($host->readMessage(), 'no answer: the session is over');
        $this->assertSame(1, $host->wait());
        $stderr = $host->stderr();
        $this->assertMatchesRegularExpression(
            '/^polyfork: protocol error from the host, stopping: frame holds more than the maximum of 4194304 values \(POLYFORK_MAX_VALUES\): the array of 16777216 elements at byte 8 brings the count to 16777221 \(received 16777229 bytes/',
            $stderr
        );
        $this->assertSame(1, preg_match('/^peak-memory (\d+) (-?\d+)$/m', $stderr, $m), $stderr);
        [$peak, $hwm] = [(int) $m[1], (int) $m[2]];
        // The frame is 16 MiB, read in pieces and joined: about two copies of it, not 1.5 GB
        // (measured: 36 MiB PHP peak, 57 MiB VmHWM).
        $this->assertLessThan(96 << 20, $peak, sprintf('PHP peak memory of the child: %.1f MiB', $peak / 1048576));
        if ($hwm > 0) {
            $this->assertLessThan(160 << 20, $hwm, sprintf('VmHWM of the child: %.1f MiB', $hwm / 1048576));
        }
    }

    public function testMoreValuesThanTheChildsLimitEndTheSession(): void
    {
        $host = $this->start(self::CHILD, ['POLYFORK_MAX_VALUES' => '100']);
        // [0, id, "echo", [94 ints]]: 1 + 4 + 1 + 94 = 100 values; the answer has 99.
        $this->assertSame(range(1, 94), $host->call('echo', [range(1, 94)])->result);
        $host->request('echo', [range(1, 95)]);
        $this->assertNull($host->readMessage());
        $this->assertSame(1, $host->wait());
        $this->assertStringContainsString('frame holds more than the maximum of 100 values (POLYFORK_MAX_VALUES): the array of 95 elements', $host->stderr());
        $this->assertSame(1, substr_count($host->stderr(), "\n"), 'one line');
    }

    public function testAResultWithTooManyValuesIsAnErrorResponse(): void
    {
        $host = $this->start(self::CHILD, ['POLYFORK_MAX_VALUES' => '100']);
        $error = $host->call('make_list', [96])->error; // 1 + 4 + 96 = 101
        $this->assertSame('ProtocolError', $error['type']);
        $this->assertMatchesRegularExpression('/^refusing to send a message of more than 100 values .*the container at result brings the count to 101; nothing was sent$/', $error['message']);
        $this->assertSame(range(1, 95), $host->call('make_list', [95])->result, 'the session goes on');
    }

    public function testALargeStringResultOverTheFrameSizeIsAnErrorResponse(): void
    {
        // Results of 64 KiB and more are written after their head, without a copy.
        $host = $this->start(self::CHILD, ['POLYFORK_MAX_FRAME_SIZE' => '100000']);
        $this->assertSame(md5(str_repeat('ab', 40000)), md5($host->call('repeat', ['ab', 40000])->result ?? ''));
        $error = $host->call('repeat', ['ab', 60000])->error;
        $this->assertSame(['type' => 'ProtocolError', 'message' => 'refusing to send a frame of 120009 bytes: the maximum frame size is 100000 bytes (POLYFORK_MAX_FRAME_SIZE); nothing was sent'], $error);
        $this->assertSame(md5(str_repeat('é', 40000)), md5($host->call('repeat', ['é', 40000])->result ?? ''), 'the session goes on');
    }

    public function testASendWithTooManyValuesThrowsEncodingFailed(): void
    {
        $host = $this->start(self::CHILD, ['POLYFORK_MAX_VALUES' => '100']);
        // [2, "message", [[96 ints]]]: 1 + 3 + 1 + 96 = 101
        $this->assertMatchesRegularExpression('/^refused: refusing to send a message of more than 100 values .*the container at params\[0\] brings the count to 101/', $host->call('send_list', [96])->result);
        $this->assertSame('sent', $host->call('send_list', [95])->result);
        $this->assertSame(range(1, 95), $host->nextNotification()->params[0]);
    }

    public function testValuesNestedTooDeepAreRefusedBeforeSending(): void
    {
        $host = $this->start();
        // A result is the 2nd level of [1, id, nil, result]: 127 more levels are allowed.
        $this->assertSame(1, $host->call('make_deep', [127])->error === null ? 1 : 0);
        $error = $host->call('make_deep', [128])->error;
        $this->assertSame('Polyfork\Exception\EncodingFailed', $error['type']);
        $this->assertStringContainsString('goes past the limit of 128 nested containers', $error['message']);
        // A sent value is the 3rd level of [2, "message", [value]]: 126 more levels.
        $this->assertSame('sent', $host->call('send_deep', [126])->result);
        $host->nextNotification();
        $this->assertStringContainsString('goes past the limit of 128 nested containers', $host->call('send_deep', [127])->result);
        $this->assertSame(3, $host->call('echo', [3])->result, 'the session goes on');
    }

    /** @return array<string, array{string, string, string}> */
    public static function badLimits(): array
    {
        return [
            'frame size not a number' => ['POLYFORK_MAX_FRAME_SIZE', 'lots', 'polyfork: POLYFORK_MAX_FRAME_SIZE must be a positive number of bytes, got "lots"'],
            'frame size 0' => ['POLYFORK_MAX_FRAME_SIZE', '0', 'polyfork: POLYFORK_MAX_FRAME_SIZE must be a positive number of bytes, got "0"'],
            'values negative' => ['POLYFORK_MAX_VALUES', '-5', 'polyfork: POLYFORK_MAX_VALUES must be a number of values of at least 16, got "-5"'],
            'values too few for $ready' => ['POLYFORK_MAX_VALUES', '10', 'polyfork: POLYFORK_MAX_VALUES must be a number of values of at least 16, got "10"'],
        ];
    }

    /** @dataProvider badLimits */
    public function testABadLimitIsOneStartupLine(string $name, string $value, string $line): void
    {
        $host = $this->start(self::CHILD, [$name => $value], [], false);
        $this->assertNull($host->readMessage(), 'nothing on the channel, not even $ready');
        $this->assertSame(2, $host->wait());
        $this->assertSame($line . "\n", $host->stderr());
    }
}
