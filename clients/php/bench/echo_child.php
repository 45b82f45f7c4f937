<?php

/* The library's child for bench/roundtrip.php: one `echo` handler through the facade. */

declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';

Polyfork\Polyfork::handle('echo', fn (mixed $v): mixed => $v);
Polyfork\Polyfork::run();
