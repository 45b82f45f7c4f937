<?php
// Saved with a UTF-8 byte order mark, which PHP writes to stdout before running the script.
require __DIR__ . "/../../../clients/php/autoload.php";
\Polyfork\Polyfork::handle("add", fn (int $a, int $b): int => $a + $b);
\Polyfork\Polyfork::run();
