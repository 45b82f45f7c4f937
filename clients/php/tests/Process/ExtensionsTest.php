<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;

/**
 * A PHP without one of the extensions the library needs: the child says which, on one line
 * of stderr, and exits with status 2 before writing anything to stdout. It ended with a fatal
 * error deep in the library ('Class "MessagePack" not found', 'Call to undefined function
 * Polyfork\Io\ctype_digit()'), which a PHP displaying errors writes on stdout, where the host
 * reads it as a broken frame.
 */
final class ExtensionsTest extends TestCase
{
    private const CHILD = __DIR__ . '/../conformance_child.php';
    private const NEEDED = ['msgpack', 'mbstring', 'ctype'];

    /** @return array<string, array{string}> */
    public static function missing(): array
    {
        return ['msgpack' => ['msgpack'], 'mbstring' => ['mbstring'], 'ctype' => ['ctype']];
    }

    /**
     * php -n (no ini file, errors displayed on stdout) with every needed extension but
     * $missing loaded by name.
     *
     * @return list<string>
     */
    private static function phpWithout(string $missing): array
    {
        $argv = [getenv('POLYFORK_PHP') ?: 'php', '-n', '-d', 'display_errors=stdout'];
        foreach (self::NEEDED as $extension) {
            if ($extension !== $missing && !self::builtIn($extension)) {
                array_push($argv, '-d', 'extension=' . $extension);
            }
        }
        return $argv;
    }

    /** Whether $extension is loaded under php -n without asking for it. */
    private static function builtIn(string $extension): bool
    {
        return trim((string) shell_exec(escapeshellarg(getenv('POLYFORK_PHP') ?: 'php') . ' -n -r ' .
            escapeshellarg('echo extension_loaded(' . var_export($extension, true) . ') ? 1 : 0;'))) === '1';
    }

    /** @dataProvider missing */
    public function testAMissingExtensionIsOneStartupLine(string $missing): void
    {
        if (self::builtIn($missing)) {
            $this->markTestSkipped("this PHP has $missing built in");
        }
        $argv = self::phpWithout($missing);
        $check = proc_open([...$argv, '-r', 'echo implode(",", get_loaded_extensions());'], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $loaded = explode(',', stream_get_contents($pipes[1]));
        fclose($pipes[1]);
        fclose($pipes[2]);
        proc_close($check);
        foreach (array_diff(self::NEEDED, [$missing]) as $extension) {
            if (!\in_array($extension, $loaded, true)) {
                $this->markTestSkipped("php -n -d extension=$extension does not load $extension here");
            }
        }

        $env = getenv() + ['POLYFORK_PROTOCOL' => '1'];
        unset($env['POLYFORK_CHANNEL_FDS']);
        $proc = proc_open([...$argv, self::CHILD], [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
        fclose($pipes[0]);
        $stdout = stream_get_contents($pipes[1]);
        $stderr = stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        $status = proc_close($proc);

        $this->assertSame('', $stdout, 'nothing on the channel, not even $ready');
        $this->assertSame(2, $status, $stderr);
        $this->assertSame(1, substr_count($stderr, "\n"), $stderr);
        $this->assertStringStartsWith("polyfork: the PHP extension $missing is not loaded, and polyfork-php needs it", $stderr);
    }
}
