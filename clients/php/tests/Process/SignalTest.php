<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Tests\Support\TestHost;

/**
 * Signals whose handler was installed without SA_RESTART interrupt the child's reads and
 * writes of the channel (EINTR), which PHP reports as a failed fread()/fwrite() without a
 * warning. Neither is the end of the channel. Whether a signal lands inside a read or a write
 * depends on timing; the tests pass either way, and failed on the old code nearly always.
 *
 * @requires extension pcntl
 */
final class SignalTest extends TestCase
{
    private const CHILD = __DIR__ . '/../fixtures/signal_child.php';

    private ?TestHost $host = null;

    protected function tearDown(): void
    {
        $this->host?->close();
    }

    public function testASignalInterruptingAnIdleReadIsNotTheEndOfTheChannel(): void
    {
        // The idle worker took the failed read for end of file and exited 0, with the
        // host's next requests unanswered.
        $host = $this->host = new TestHost(self::CHILD);
        $this->assertTrue($host->call('flood')->result);
        usleep(300_000); // signals come while the worker waits for a frame
        for ($i = 0; $i < 20; $i++) {
            $this->assertSame("v$i", $host->call('echo', ["v$i"])->result, $host->stderr());
            usleep(10_000);
        }
        $this->assertIsInt($host->call('count')->result); // how many came varies
        $this->assertSame(0, $host->wait(), $host->stderr());
        $this->assertSame('', $host->stderr());
    }

    public function testASignalInterruptingAWriteDoesNotCutTheFrame(): void
    {
        // A write blocked on a full pipe failed with EINTR: the worker said "the host closed
        // the channel" and exited, half a frame sent.
        $host = $this->host = new TestHost(self::CHILD);
        $this->assertTrue($host->call('flood')->result);
        for ($i = 0; $i < 3; $i++) {
            $id = $host->request('big', [8 << 20]);
            usleep(200_000); // the pipe fills: the write blocks while signals come
            $this->assertSame(8 << 20, \strlen((string) $host->waitResponse($id)->result), $host->stderr());
        }
        $this->assertIsInt($host->call('count')->result); // how many came varies
        $this->assertSame(0, $host->wait(), $host->stderr());
        $this->assertSame('', $host->stderr());
    }

    public function testAFrameSentFromASignalHandlerDuringAWriteGoesOutAfterIt(): void
    {
        // The handler's notification was written between two pieces of the frame under way
        // (its fwrite() was interrupted, or the frame took two), inside it: the host read
        // garbage. Each tick must arrive whole, all of them, in order.
        $host = $this->host = new TestHost(self::CHILD, ['SIGNAL_NOTIFY' => '1']);
        $this->assertTrue($host->call('flood')->result);
        for ($i = 0; $i < 3; $i++) {
            $id = $host->request('big', [8 << 20]);
            usleep(200_000); // the pipe fills: the write blocks while signals come
            $this->assertSame(8 << 20, \strlen((string) $host->waitResponse($id)->result), $host->stderr());
        }
        $count = $host->call('count')->result;
        $ticks = array_map(fn ($n) => [$n->method, $n->params], $host->inbox);
        // (A signal that came as `count` returned may be told after its answer.)
        $this->assertGreaterThanOrEqual($count, \count($ticks) + 1);
        $this->assertSame(array_map(fn ($i) => ['tick', [$i]], range(0, \count($ticks) - 1)), $ticks);
        $this->assertSame(0, $host->wait(), $host->stderr());
    }
}
