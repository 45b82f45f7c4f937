<?php
// A PHP worker for the console tests: ask() prompts on the console with readline.
declare(strict_types=1);

require __DIR__ . '/../../../clients/php/autoload.php';

use Polyfork\Polyfork;

Polyfork::handle('ask', function (string $question): string {
    $answer = readline($question);
    return 'you said: ' . $answer;
});

Polyfork::run();
