<?php
// Reads an undefined variable before the library starts: with display_errors on, PHP
// writes the warning to stdout, after a line break that looks like a blank line.
echo $undefined;
require __DIR__ . "/../../../clients/php/autoload.php";
\Polyfork\Polyfork::handle("add", fn (int $a, int $b): int => $a + $b);
\Polyfork\Polyfork::run();
