<?php

/*
 * The `echo` child of instructions.php: echo_child.php's handler, with the batching
 * thresholds (Child::QUICK_NS, MAX_QUEUED_NS) out of reach. Under valgrind every handler runs
 * some 50 times slower, so with the defaults no handler counts as quick and every answer is
 * written at once; with these the answers of one read are queued and written together, as
 * they are without valgrind, and the count does not depend on the machine's speed.
 */

declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';

$child = Polyfork\Child::fromEnvironment(PHP_INT_MAX, PHP_INT_MAX);
$child->handle('echo', fn (mixed $v): mixed => $v);
$child->run();
