<?php

declare(strict_types=1);

/*
 * Autoloader for using polyfork-php without Composer:
 *
 *     require '/path/to/polyfork/clients/php/autoload.php';
 *
 * Maps the Polyfork\ namespace to src/ (PSR-4), like composer.json does.
 */

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'Polyfork\\', 9) !== 0) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 9)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
