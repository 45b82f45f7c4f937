<?php

declare(strict_types=1);

namespace Polyfork\Tests\Process;

use PHPUnit\Framework\TestCase;
use Polyfork\Child;
use Polyfork\Tests\Support\TestHost;

/**
 * The two documented ways to use the client from a project outside this repository (README
 * "Install"), each in a fresh project in a temporary directory, proven by a worker that
 * answers one call under the test host: Composer with a path repository (Packagist off,
 * no "minimum-stability"), and a plain require of autoload.php.
 */
final class InstallTest extends TestCase
{
    private const CLIENT = __DIR__ . '/../..';

    private const WORKER = <<<'PHP'
        <?php

        declare(strict_types=1);

        require %s;

        use Polyfork\Polyfork;

        Polyfork::handle('add', fn (int $a, int $b): int => $a + $b);
        Polyfork::run();
        PHP;

    private ?string $dir = null;
    private ?TestHost $host = null;

    protected function setUp(): void
    {
        $this->dir = sys_get_temp_dir() . '/polyfork-php-install-' . bin2hex(random_bytes(6));
        mkdir($this->dir);
    }

    protected function tearDown(): void
    {
        $this->host?->close();
        if ($this->dir !== null) {
            exec('rm -rf ' . escapeshellarg($this->dir));
        }
    }

    /** Runs the project's worker.php under the test host and makes one call. */
    private function assertWorkerAnswers(): void
    {
        $this->host = new TestHost($this->dir . '/worker.php');
        $this->assertSame('polyfork-php/' . Child::VERSION, $this->host->ready['lib']);
        $this->assertSame(42, $this->host->call('add', [40, 2])->result);
        $this->assertSame(0, $this->host->wait());
    }

    public function testTheVersionIsTheSameInComposerJsonAndReady(): void
    {
        $composer = json_decode((string) file_get_contents(self::CLIENT . '/composer.json'), true, 16, JSON_THROW_ON_ERROR);
        $this->assertSame('0.2.0', Child::VERSION);
        $this->assertSame(Child::VERSION, $composer['version']);
        $this->assertArrayNotHasKey('minimum-stability', $composer);
    }

    public function testRequireAutoloadWithoutComposer(): void
    {
        $autoload = realpath(self::CLIENT . '/autoload.php');
        file_put_contents($this->dir . '/worker.php', sprintf(self::WORKER, var_export($autoload, true)));
        $this->assertWorkerAnswers();
    }

    public function testComposerWithAPathRepository(): void
    {
        $composer = trim((string) shell_exec('command -v composer'));
        if ($composer === '') {
            $this->markTestSkipped('composer is not installed (Debian: apt-get install -y composer): the Composer install is not tested');
        }
        file_put_contents($this->dir . '/composer.json', json_encode([
            'name' => 'acme/worker',
            'type' => 'project',
            'repositories' => [
                ['type' => 'path', 'url' => realpath(self::CLIENT)],
                ['packagist.org' => false],
            ],
            'require' => ['polyfork/polyfork' => '^0.2'],
        ], JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR));
        file_put_contents($this->dir . '/worker.php', sprintf(self::WORKER, "__DIR__ . '/vendor/autoload.php'"));
        $env = [
            'COMPOSER_HOME' => $this->dir . '/.composer',
            'COMPOSER_CACHE_DIR' => $this->dir . '/.composer/cache',
            'COMPOSER_DISABLE_NETWORK' => '1',
            'COMPOSER_ALLOW_SUPERUSER' => '1',
            'COMPOSER_NO_INTERACTION' => '1',
        ] + getenv();
        $process = proc_open([$composer, 'install', '--no-progress', '--no-ansi'], [1 => ['pipe', 'w'], 2 => ['redirect', 1]], $pipes, $this->dir, $env);
        $this->assertIsResource($process);
        $output = stream_get_contents($pipes[1]);
        fclose($pipes[1]);
        $this->assertSame(0, proc_close($process), "composer install failed:\n$output");
        $this->assertMatchesRegularExpression('/Installing polyfork\/polyfork \(0\.2\.0\)/', $output);
        $this->assertWorkerAnswers();
    }
}
