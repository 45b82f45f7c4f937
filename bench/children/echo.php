<?php

/* The polyfork PHP echo child of the benchmark: one handler, written as a user would. */

declare(strict_types=1);

require dirname(__DIR__, 2) . '/clients/php/autoload.php';

use Polyfork\Polyfork;

Polyfork::handle('echo', fn (mixed $value): mixed => $value);
Polyfork::run();
