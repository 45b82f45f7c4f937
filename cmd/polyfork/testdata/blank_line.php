
<?php
// The blank line above goes to stdout before the library starts: a frame-length error.
require __DIR__ . "/../../../clients/php/autoload.php";
\Polyfork\Polyfork::handle("add", fn (int $a, int $b): int => $a + $b);
\Polyfork\Polyfork::run();
