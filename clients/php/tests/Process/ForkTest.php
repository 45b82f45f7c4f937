<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Message\Response;
use Polyfork\Tests\Support\TestHost;

/**
 * User code that pcntl_fork()s inside a handler or listener: the copy shares the worker's
 * channel, and must neither answer nor read it (docs/faults.md, user code in a child).
 *
 * @requires extension pcntl
 * @requires extension posix
 */
final class ForkTest extends TestCase
{
    private const CHILD = __DIR__ . '/../fixtures/fork_child.php';
    private const COPY_LINE = 'is a fork of the worker';

    private ?TestHost $host = null;

    protected function tearDown(): void
    {
        $this->host?->close();
    }

    private function waitForStderr(string $text, int $count = 1): void
    {
        for ($i = 0; $i < 3000 && substr_count($this->host->stderr(), $text) < $count; $i++) {
            usleep(10_000);
        }
        $this->assertSame($count, substr_count($this->host->stderr(), $text), $this->host->stderr());
    }

    public function testACopyThatReturnsFromItsHandlerNeitherAnswersNorServes(): void
    {
        // The copy used to answer the request a second time ("from-copy"), then read requests
        // from the channel as a second worker: the host got answers from a pid it never
        // started, for requests the worker never saw.
        $host = $this->host = new TestHost(self::CHILD);
        $worker = $host->ready['pid'];
        $first = $host->request('forget_exit');
        $this->waitForStderr(self::COPY_LINE);
        $host->notify('forget_exit_in_listener');
        $this->waitForStderr(self::COPY_LINE . ' (pid ' . $worker . ') and came back', 2);
        $ids = [];
        for ($i = 0; $i < 20; $i++) {
            $ids[] = $host->request('pid');
        }
        $host->closeStdin();
        $got = [];
        while (($m = $host->readMessage()) !== null) {
            $this->assertInstanceOf(Response::class, $m);
            $got[] = [$m->id, $m->result];
        }
        $this->assertSame(0, $host->wait(), $host->stderr());
        $want = [[$first, 'from-worker']];
        foreach ($ids as $id) {
            $want[] = [$id, $worker];
        }
        $this->assertSame($want, $got, $host->stderr());
    }

    public function testACopyThatReturnsWhileAnswersAreQueuedIsCaughtToo(): void
    {
        // Requests read together: the answers before the fork are queued, and the forking
        // handler is timed (the path that asks getmypid() only after a handler slower than a
        // fork could be). The copy must still exit before it writes those answers or its own.
        $host = $this->host = new TestHost(self::CHILD);
        $worker = $host->ready['pid'];
        $ids = $host->requests([['pid', []], ['pid', []], ['forget_exit', []], ['pid', []]]);
        $this->waitForStderr(self::COPY_LINE . ' (pid ' . $worker . ') and came back');
        $host->closeStdin();
        $got = [];
        while (($m = $host->readMessage()) !== null) {
            $this->assertInstanceOf(Response::class, $m);
            $got[] = [$m->id, $m->result];
        }
        $this->assertSame(0, $host->wait(), $host->stderr());
        $this->assertSame([[$ids[0], $worker], [$ids[1], $worker], [$ids[2], 'from-worker'], [$ids[3], $worker]], $got, $host->stderr());
    }

    public function testACopyCannotSendNotifyCallOrReadTheChannel(): void
    {
        $host = $this->host = new TestHost(self::CHILD);
        $worker = $host->ready['pid'];
        $id = $host->request('copy_uses_the_channel');
        $m = $host->readMessage();
        $this->assertInstanceOf(Response::class, $m, 'the answer comes first: nothing from the copy');
        $this->assertSame($id, $m->id);
        $this->assertNull($m->error);
        $lines = explode("\n", $m->result);
        $this->assertSame(['send', 'notify', 'call', 'cancelled'], array_map(fn ($l) => explode(':', $l)[0], $lines), $m->result);
        foreach ($lines as $line) {
            $this->assertStringContainsString("is a fork of the polyfork worker (pid $worker), whose channel it must not use", $line);
        }
        $host->closeStdin();
        $this->assertNull($host->readMessage());
        $this->assertSame(0, $host->wait(), $host->stderr());
    }
}
