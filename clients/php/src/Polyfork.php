<?php

declare(strict_types=1);

namespace Polyfork;

use Polyfork\Exception\ProtocolError;
use Polyfork\Exception\StartupError;

/**
 * The static facade for a PHP child of a polyfork host, mirroring the Python and Node
 * clients:
 *
 * ```php
 * require '/path/to/polyfork/clients/php/autoload.php';
 * use Polyfork\Polyfork;
 *
 * Polyfork::handle('add', fn (int $a, int $b) => $a + $b);
 * Polyfork::on('message', fn ($value) => Polyfork::send($value));
 * Polyfork::run(); // serves until the host sends $stop or closes the channel, then returns
 * ```
 *
 * The first call creates the shared Child (see Child::fromEnvironment()), which finds the
 * channel and, when it is stdin and stdout, moves stdout to stderr so that echo and print
 * cannot corrupt the channel.
 */
final class Polyfork
{
    private static ?Child $child = null;

    /**
     * The shared Child behind the facade, created on first use. When the environment the
     * host gave cannot be used (a bad POLYFORK_* value), writes one line naming the variable
     * and its value to stderr and exits with status 2.
     */
    public static function instance(): Child
    {
        if (self::$child === null) {
            try {
                self::$child = Child::fromEnvironment();
            } catch (StartupError $e) {
                fwrite(STDERR, $e->getMessage() . "\n");
                exit(2);
            }
        }
        return self::$child;
    }

    /** Sends $value to the host's message handler. See Child::send(). */
    public static function send(mixed $value): void
    {
        self::instance()->send($value);
    }

    /**
     * Calls $listener for each notification $name ('message': with the value). Returns a
     * function that removes it. See Child::on().
     */
    public static function on(string $name, callable $listener): \Closure
    {
        return self::instance()->on($name, $listener);
    }

    /** Removes $listener from notification $name. See Child::off(). */
    public static function off(string $name, callable $listener): void
    {
        self::instance()->off($name, $listener);
    }

    /** Serves requests for $method with $handler. See Child::handle(). */
    public static function handle(string $method, callable $handler): void
    {
        self::instance()->handle($method, $handler);
    }

    /** Calls the host's $method and blocks for the result. See Child::call(). */
    public static function call(string $method, mixed ...$params): mixed
    {
        return self::instance()->call($method, ...$params);
    }

    /** Sends the notification $name with $params to the host. See Child::notify(). */
    public static function notify(string $name, mixed ...$params): void
    {
        self::instance()->notify($name, ...$params);
    }

    /**
     * True when the host cancelled the running request; waits up to $wait seconds for it.
     * See Child::cancelled().
     */
    public static function cancelled(float $wait = 0.0): bool
    {
        return self::instance()->cancelled($wait);
    }

    /** Throws Exception\CancelledError when the host cancelled the running request. */
    public static function throwIfCancelled(): void
    {
        self::instance()->throwIfCancelled();
    }

    /**
     * Calls $onReadable($stream) whenever $stream (a listening socket, a connection, a pipe)
     * has something to read while run() waits for the host. Returns a function that stops
     * watching it. See Child::watch().
     *
     * @param resource $stream
     */
    public static function watch($stream, callable $onReadable): \Closure
    {
        return self::instance()->watch($stream, $onReadable);
    }

    /**
     * The listening sockets this process inherited (SPEC 1.2: from a polyfork cluster, or
     * systemd socket activation), in order, as ListenSocket objects whose `socket` works with
     * stream_socket_accept(); [] when there are none, or when LISTEN_PID is not this process.
     * Needs no polyfork host. The first call takes them and removes LISTEN_FDS, LISTEN_PID and
     * LISTEN_FDNAMES from the environment; later calls return the same objects.
     *
     * @return list<ListenSocket>
     * @throws Exception\StartupError when the LISTEN_* variables are malformed or a
     *                                descriptor is not a listening socket
     */
    public static function listenSockets(): array
    {
        return Io\ListenSockets::take();
    }

    /**
     * The socket stream of the first inherited listening socket, or of the first one named
     * $name (LISTEN_FDNAMES); null when there is none:
     *
     * ```php
     * $server = Polyfork::listenSocket() ?? stream_socket_server('tcp://127.0.0.1:8080');
     * ```
     *
     * @return resource|null
     * @throws Exception\StartupError see listenSockets()
     */
    public static function listenSocket(?string $name = null): mixed
    {
        foreach (self::listenSockets() as $listener) {
            if ($name === null || $listener->name === $name) {
                return $listener->socket;
            }
        }
        return null;
    }

    /**
     * Serves the host until `$stop` or end of file on the channel, then returns so the script exits 0.
     * When the host breaks the protocol it writes the error to stderr and exits with status 1.
     */
    public static function run(): void
    {
        try {
            self::instance()->run();
        } catch (ProtocolError $e) {
            fwrite(STDERR, 'polyfork: protocol error from the host, stopping: ' . $e->getMessage() . "\n");
            exit(1);
        }
    }
}
