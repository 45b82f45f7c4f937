<?php
// A cluster-sum worker in PHP: answers one request, as the seed's cluster workers do.
declare(strict_types=1);

require dirname(__DIR__, 2) . '/clients/php/autoload.php';

use Polyfork\Polyfork;

Polyfork::handle('handle_request', function (string $path): array {
    echo 'process pid ', getmypid(), ' serves ', $path, "\n"; // to the host's log, tagged
    $sum = 0;
    for ($i = 0; $i < 100000; $i++) {
        $sum += $i;
    }
    return ['pid' => getmypid(), 'lang' => 'php', 'sum' => $sum];
});

Polyfork::run();
