<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Tests\Support\TestHost;

/**
 * The channel on descriptors of its own (SPEC 1.1, POLYFORK_CHANNEL_FDS=r,w): the test host
 * passes two pipes as descriptors 3 and 4 (with proc_open's descriptor spec), the child's
 * stdin is /dev/null and its stdout a log file.
 */
final class ChannelFdsTest extends TestCase
{
    private const CONFORMANCE = __DIR__ . '/../conformance_child.php';
    private const FD_CHILD = __DIR__ . '/../fixtures/fd_child.php';

    /** @var list<TestHost> */
    private array $hosts = [];

    protected function tearDown(): void
    {
        foreach ($this->hosts as $host) {
            $host->close();
        }
    }

    private function start(string $script = self::CONFORMANCE, array $env = [], array $phpArgs = [], bool $handshake = true, array $prefix = []): TestHost
    {
        return $this->hosts[] = new TestHost($script, $env, $phpArgs, $handshake, channelFds: true, prefix: $prefix);
    }

    public function testTheConformanceChildServesOnDescriptorsThreeAndFour(): void
    {
        $host = $this->start();
        $this->assertSame([3, 4], $host->channel);
        $this->assertSame($host->pid(), $host->ready['pid']);
        $this->assertSame(3, $host->call('add', [1, 2])->result);
        $this->assertSame('ConformanceError', $host->call('fail', ['boom'])->error['type']);
        $this->assertSame($big = str_repeat('é', 300000), $host->call('echo', [$big])->result, 'frames of many reads');
        $host->send('ping');
        $this->assertSame(['ping'], $host->nextNotification()->params);
        $host->notify('$stop');
        $this->assertNull($host->readMessage(), 'the channel closes after $stop');
        $this->assertSame(0, $host->wait());
        $this->assertSame('', $host->stderr());
    }

    public function testOneSocketAsBothDescriptors(): void
    {
        $host = $this->hosts[] = new TestHost(self::CONFORMANCE, channelSocket: true);
        $this->assertSame([3, 3], $host->channel);
        $this->assertSame(3, $host->call('add', [1, 2])->result);
        $this->assertSame(md5($big = str_repeat('x', 1 << 20)), md5($host->call('echo', [$big])->result));
        $this->assertNull($host->call('env', ['POLYFORK_CHANNEL_FDS'])->result);
        $this->assertTrue($host->call('print', ['on stdout'])->result);
        $host->closeStdin(); // shuts down the host's writing side: end of file for the child
        $this->assertNull($host->readMessage());
        $this->assertSame(0, $host->wait());
        $this->assertSame(str_repeat("on stdout\n", 7), $host->stdout());
    }

    public function testEndOfFileOnTheReadDescriptorStopsTheChild(): void
    {
        $host = $this->start();
        $host->closeStdin();
        $this->assertNull($host->readMessage());
        $this->assertSame(0, $host->wait());
    }

    public function testStdoutIsALogThatTheLibraryLeavesAlone(): void
    {
        $host = $this->start();
        $this->assertTrue($host->call('print', ['hello from print'])->result);
        $this->assertTrue($host->call('write_fd1', ["raw \x00\x00\x00\x05 bytes\n"])->result);
        $this->assertSame(3, $host->call('add', [1, 2])->result, 'the channel is intact');
        $this->assertSame(0, $host->wait());
        // echo, print, printf, fwrite(STDOUT), php://stdout, system(), passthru(): all on
        // stdout, in order, none on stderr.
        $this->assertSame(str_repeat("hello from print\n", 7) . "raw \x00\x00\x00\x05 bytes\n", $host->stdout());
        $this->assertSame('', $host->stderr());
    }

    public function testOutputBeforeTheLibraryIsLoadedIsOnlyALog(): void
    {
        // fd_child.php starts with a blank line before <?php and echoes before `require`.
        $host = $this->start(self::FD_CHILD);
        $this->assertSame(3, $host->call('add', [1, 2])->result);
        $this->assertTrue($host->call('write_fd1', ["\x00\x00\x00\x05raw"])->result);
        $this->assertTrue($host->call('passthru', ['from a subprocess'])->result);
        $this->assertSame(5, $host->call('add', [2, 3])->result);
        $this->assertSame(0, $host->wait());
        $this->assertSame("\nbefore require\n\x00\x00\x00\x05rawfrom a subprocess\nfrom a subprocess\n", $host->stdout());
    }

    public function testIsattyEnvAndFds(): void
    {
        $host = $this->start(self::CONFORMANCE, ['POLYFORK_TEST_VALUE' => 'kept']);
        $this->assertSame([false, false, false], $host->call('isatty')->result, '/dev/null, a file, a file');
        $this->assertSame('kept', $host->call('env', ['POLYFORK_TEST_VALUE'])->result);
        $this->assertNull($host->call('env', ['POLYFORK_CHANNEL_FDS'])->result, 'removed once the channel is open');
        $fds = $host->call('fds')->result;
        $this->assertSame([0, 1, 2, 3, 4], array_slice($fds, 0, 5), 'the channel stays on the descriptors the host gave');
    }

    public function testTheVariableIsRemovedEverywhere(): void
    {
        $host = $this->start(self::FD_CHILD, [], ['-d', 'variables_order=EGPCS']);
        $this->assertSame(
            ['getenv' => null, '_ENV' => null, '_SERVER' => null, 'subprocess' => ''],
            $host->call('channel_variable')->result
        );
    }

    public function testProcessesTheChildStartsDoNotInheritTheChannel(): void
    {
        $host = $this->start(self::FD_CHILD);
        $grandchild = $host->call('grandchild_fds')->result;
        foreach (['proc_open', 'exec'] as $how) {
            $this->assertContains(1, $grandchild[$how], "$how: the listing works");
            $this->assertSame([], array_values(array_intersect([3, 4], $grandchild[$how])), "$how: descriptors 3 and 4 are close-on-exec");
        }
    }

    public function testWithoutFfiTheChannelStillWorks(): void
    {
        // Without FFI, PHP can neither close a descriptor nor mark one close-on-exec: the
        // stream is on a duplicate, and processes the child starts inherit both (README).
        $host = $this->start(self::FD_CHILD, [], ['-d', 'ffi.enable=0']);
        $this->assertSame(3, $host->call('add', [1, 2])->result);
        $this->assertNull($host->call('channel_variable')->result['getenv']);
        $host->notify('$stop');
        $this->assertSame(0, $host->wait());
    }

    /** @return array<string, array{string, string}> */
    public static function badValues(): array
    {
        $what = 'must be two descriptor numbers "<r>,<w>" (SPEC 1.1), got ';
        return [
            'empty' => ['', 'polyfork: POLYFORK_CHANNEL_FDS ' . $what . '""'],
            'one number' => ['3', 'polyfork: POLYFORK_CHANNEL_FDS ' . $what . '"3"'],
            'three numbers' => ['3,4,5', 'polyfork: POLYFORK_CHANNEL_FDS ' . $what . '"3,4,5"'],
            'negative' => ['-1,4', 'polyfork: POLYFORK_CHANNEL_FDS ' . $what . '"-1,4"'],
            'spaces' => ['3, 4', 'polyfork: POLYFORK_CHANNEL_FDS ' . $what . '"3, 4"'],
            'words' => ['stdin,stdout', 'polyfork: POLYFORK_CHANNEL_FDS ' . $what . '"stdin,stdout"'],
            'a newline' => ["3,4\n", 'polyfork: POLYFORK_CHANNEL_FDS ' . $what . '"3,4\n"'],
            'not open' => ['7,8', 'polyfork: POLYFORK_CHANNEL_FDS="7,8": descriptor 7 is not open'],
            'write end not open' => ['3,9', 'polyfork: POLYFORK_CHANNEL_FDS="3,9": descriptor 9 is not open'],
            'swapped' => ['4,3', 'polyfork: POLYFORK_CHANNEL_FDS="4,3": descriptor 4 is not open for reading'],
        ];
    }

    /** @dataProvider badValues */
    public function testABadValueIsOneStartupLine(string $value, string $line): void
    {
        // Through env(1): proc_open() leaves out variables whose value is empty.
        $host = $this->start(self::CONFORMANCE, [], [], false, ['env', 'POLYFORK_CHANNEL_FDS=' . $value]);
        $this->assertNull($host->readMessage(), 'nothing on the channel, not even $ready');
        $this->assertSame(2, $host->wait());
        $this->assertSame($line . "\n", $host->stderr());
        $this->assertSame('', $host->stdout());
    }
}
