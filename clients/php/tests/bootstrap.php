<?php

declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'Polyfork\\Tests\\', 15) === 0) {
        require __DIR__ . '/' . str_replace('\\', '/', substr($class, 15)) . '.php';
    }
});
