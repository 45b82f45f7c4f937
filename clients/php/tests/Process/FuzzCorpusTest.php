<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Tests\Support\GoFuzzCorpus;
use Polyfork\Tests\Support\Tagged;
use Polyfork\Tests\Support\TestHost;

/**
 * Every input of the Go fuzz corpus (protocol/testdata/fuzz/, Go's corpus format), of this
 * client's own seeds in the same format (tests/fixtures/fuzz_seeds/) and of invalid.json, fed
 * to the frame reader and the decoders in a child process with a memory limit: each is
 * decoded or refused with the library's ProtocolError (UnsupportedValue for a lone value PHP
 * cannot hold), never another exception, a fatal error, a hang or unbounded memory.
 */
final class FuzzCorpusTest extends TestCase
{
    private const FEED = __DIR__ . '/../fixtures/fuzz_feed.php';
    private const SEEDS = __DIR__ . '/../fixtures/fuzz_seeds';

    /** The child's memory_limit, and the bound on its peak (a few frames of 64 KiB at most). */
    private const MEMORY_LIMIT = '128M';
    private const PEAK_BOUND = 32 << 20;

    /** @return list<array{name: string, hex: string, invalid: bool}> */
    private static function inputs(): array
    {
        $root = \dirname(__DIR__, 4);
        $inputs = [];
        foreach (GoFuzzCorpus::load([$root . '/protocol/testdata/fuzz', self::SEEDS]) as $path => $values) {
            foreach ($values as $i => $bytes) {
                $name = str_replace($root . '/', '', $path) . (\count($values) > 1 ? "#$i" : '');
                $inputs[] = ['name' => $name, 'hex' => bin2hex($bytes), 'invalid' => false];
            }
        }
        foreach (Tagged::cases('invalid.json') as $name => [$vector]) {
            $inputs[] = ['name' => "invalid.json: $name", 'hex' => $vector['hex'], 'invalid' => true];
        }
        return $inputs;
    }

    public function testEveryInputIsDecodedOrAProtocolError(): void
    {
        $inputs = self::inputs();
        $seeds = array_filter($inputs, static fn (array $in): bool => str_contains($in['name'], 'fuzz_seeds/'));
        $this->assertGreaterThanOrEqual(20, \count($seeds), 'the seeds are read');
        [$status, $stdout, $stderr] = $this->feed($inputs);
        $this->assertSame(0, $status, "the feeding process failed\n$stderr");

        $results = [];
        foreach (explode("\n", trim($stdout)) as $line) {
            $result = json_decode($line, true, 4, JSON_THROW_ON_ERROR);
            $results[$result['name']] = $result;
        }
        $this->assertCount(\count($inputs), $results, 'one result per input');
        foreach ($inputs as $input) {
            $r = $results[$input['name']];
            $this->assertContains($r['body'], ['decoded', 'ProtocolError'], $input['name'] . ' as a frame body');
            $this->assertContains($r['value'], ['decoded', 'ProtocolError', 'UnsupportedValue'], $input['name'] . ' as a value');
            $this->assertMatchesRegularExpression('/^frames \d+, (end of file|ProtocolError|stopped)$/', $r['stream'], $input['name'] . ' as a stream');
            if ($input['invalid']) {
                $this->assertStringEndsWith('ProtocolError', $r['stream'], $input['name'] . ' must be rejected');
            }
        }
        $this->assertSame(1, preg_match('/^peak-memory (\d+)$/m', $stderr, $m));
        $this->assertLessThan(self::PEAK_BOUND, (int) $m[1], sprintf('peak memory of the feeding process: %.1f MiB', (int) $m[1] / 1048576));
    }

    /**
     * Runs the feeding process over $inputs; fails the test, naming the input, if it takes
     * longer than the hang guard.
     *
     * @return array{int, string, string} exit status, stdout, stderr
     */
    private function feed(array $inputs): array
    {
        $php = getenv('POLYFORK_PHP') ?: 'php';
        $process = proc_open([$php, '-d', 'memory_limit=' . self::MEMORY_LIMIT, self::FEED], [['pipe', 'r'], ['pipe', 'w'], ['pipe', 'w']], $pipes);
        $this->assertIsResource($process);
        fwrite($pipes[0], json_encode(array_map(static fn (array $in): array => ['name' => $in['name'], 'hex' => $in['hex']], $inputs), JSON_THROW_ON_ERROR));
        fclose($pipes[0]);
        $out = ['', ''];
        $deadline = microtime(true) + TestHost::HANG_SECONDS;
        $open = [1 => $pipes[1], 2 => $pipes[2]];
        while ($open !== []) {
            $left = $deadline - microtime(true);
            $read = $open;
            $none = null;
            if ($left <= 0 || stream_select($read, $none, $none, (int) $left, 100_000) === 0) {
                proc_terminate($process, 9);
                proc_close($process);
                preg_match_all('/^start (.*)$/m', $out[1], $started);
                $this->fail(sprintf('hang guard: the feeding process took over %.0f s, at input %s', TestHost::HANG_SECONDS, end($started[1]) ?: '(none)'));
            }
            foreach ($read as $i => $pipe) {
                $chunk = fread($pipe, 65536);
                if ($chunk === '' || $chunk === false) {
                    fclose($pipe);
                    unset($open[$i]);
                } else {
                    $out[$i - 1] .= $chunk;
                }
            }
        }
        return [proc_close($process), $out[0], $out[1]];
    }
}
