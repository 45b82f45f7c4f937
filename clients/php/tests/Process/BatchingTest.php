<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Message\MessageCodec;
use Polyfork\Message\Notification;
use Polyfork\Message\Response;
use Polyfork\Tests\Support\TestHost;

/**
 * Answers written together (README "Performance"): when the host keeps several calls in
 * flight, the child queues the answers of quick handlers and writes them at once. Nothing is
 * reordered, a lone request is answered at once, and no answer waits for a handler that
 * waits for the host: each test here would hang (and fail on the hang guard) otherwise.
 */
final class BatchingTest extends TestCase
{
    private const CHILD = __DIR__ . '/../fixtures/batch_child.php';

    private ?TestHost $host = null;

    protected function setUp(): void
    {
        $this->host = new TestHost(self::CHILD);
    }

    /** A child where every handler that ran once under load counts as quick. */
    private function allQuick(): TestHost
    {
        $this->host->close();
        return $this->host = new TestHost(self::CHILD, ['BATCH_ALL_QUICK' => '1']);
    }

    /** Runs $calls in one batch and reads their answers: the handlers are then known. */
    private function warmUp(TestHost $host, array $calls): void
    {
        $host->requests($calls);
        foreach ($calls as $_) {
            $this->assertInstanceOf(Response::class, $host->readMessage());
        }
    }

    protected function tearDown(): void
    {
        $this->host?->close();
    }

    public function testManyCallsInFlightAreAllAnsweredInOrder(): void
    {
        $calls = [];
        for ($i = 0; $i < 2000; $i++) {
            $calls[] = ['echo', [str_repeat(chr(97 + $i % 26), $i % 40)]];
        }
        $ids = $this->host->requests($calls);
        foreach ($ids as $i => $id) {
            $message = $this->host->readMessage();
            $this->assertInstanceOf(Response::class, $message);
            $this->assertSame([$id, $calls[$i][1][0]], [$message->id, $message->result], "answer $i");
        }
    }

    public function testALoneRequestIsAnsweredAtOnce(): void
    {
        for ($i = 0; $i < 3; $i++) {
            $this->assertSame($i, $this->host->call('echo', [$i])->result);
        }
    }

    /**
     * The frames that end a read and make the child write nothing: a `$cancel` for an id not
     * in flight, a notification nobody listens to, a response to a call never made.
     *
     * @return array<string, array{string}>
     */
    public static function silentFrames(): array
    {
        $codec = new MessageCodec();
        return [
            'a $cancel' => [$codec->notification('$cancel', [12345])],
            'a notification without a listener' => [$codec->notification('nobody', [1])],
            'a stray response' => [$codec->response(777, null, 1)],
        ];
    }

    /**
     * An answer queued because another frame was buffered behind it goes out before the
     * child waits for more, also when that frame makes the child write nothing (it stayed
     * queued until the host sent something else; a host waiting for it waited for ever).
     *
     * @dataProvider silentFrames
     */
    public function testAnAnswerQueuedBeforeASilentFrameGoesOut(string $silent): void
    {
        $this->warmUp($this->host, [['echo', [1]], ['echo', [2]]]);
        $request = (new MessageCodec())->request(9000, 'echo', ['before']);
        $this->host->writeRaw(pack('N', strlen($request)) . $request . pack('N', strlen($silent)) . $silent);
        $this->assertSame('before', $this->host->waitResponse(9000)->result);
    }

    public function testAnswersGoOutBeforeAHandlerThatWaitsForTheHost(): void
    {
        $path = tempnam(sys_get_temp_dir(), 'polyfork-batch-');
        unlink($path);
        try {
            [$echo, $wait] = $this->host->requests([['echo', ['first']], ['wait_for_file', [$path]]]);
            $this->assertSame('first', $this->host->waitResponse($echo)->result);
            touch($path);
            $this->assertSame('seen', $this->host->waitResponse($wait)->result);
        } finally {
            @unlink($path);
        }
    }

    public function testPollingForCancelWritesTheQueuedAnswers(): void
    {
        $host = $this->allQuick();
        $this->warmUp($host, [['echo', [1]], ['wait_for_cancel', [0]], ['echo', [2]]]);
        [$echo, $wait] = $host->requests([['echo', ['before']], ['wait_for_cancel', [60]]]);
        $this->assertSame('before', $host->waitResponse($echo)->result);
        $host->notify('$cancel', [$wait]);
        $this->assertTrue($host->waitResponse($wait)->result);
    }

    public function testAListenerRunsAfterTheQueuedAnswersWentOut(): void
    {
        $host = $this->allQuick();
        $this->warmUp($host, [['echo', [1]], ['echo', [2]]]);
        $path = tempnam(sys_get_temp_dir(), 'polyfork-batch-');
        unlink($path);
        try {
            // One write: the answer to 9000 is queued when the listener starts.
            $codec = new MessageCodec();
            $frames = '';
            foreach ([$codec->request(9000, 'echo', ['before']), $codec->notification('note', [$path])] as $body) {
                $frames .= pack('N', strlen($body)) . $body;
            }
            $host->writeRaw($frames);
            $this->assertSame('before', $host->waitResponse(9000)->result);
            touch($path);
            $this->assertSame(3, $host->call('echo', [3])->result);
        } finally {
            @unlink($path);
        }
    }

    public function testASendFromAHandlerKeepsItsPlaceInTheStream(): void
    {
        [$a, $send, $b] = $this->host->requests([['echo', ['a']], ['send', ['note']], ['echo', ['b']]]);
        $order = [];
        for ($i = 0; $i < 4; $i++) {
            $message = $this->host->readMessage();
            $order[] = $message instanceof Notification
                ? 'message:' . $message->params[0]
                : $message->id . ':' . $message->result;
        }
        $this->assertSame(["$a:a", 'message:note', "$send:sent", "$b:b"], $order);
    }

    public function testQueuedAnswersAreWrittenWhenAHandlerExits(): void
    {
        $host = $this->allQuick();
        $this->warmUp($host, [['echo', [1]], ['maybe_exit', [false]]]);
        [$echo] = $host->requests([['echo', ['last words']], ['maybe_exit', [true]]]);
        $this->assertSame('last words', $host->waitResponse($echo)->result);
        $this->assertNull($host->readMessage(), 'then end of file');
        $this->assertSame(0, $host->wait());
    }
}
