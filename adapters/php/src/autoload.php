<?php

/*
 * Composer-free autoloader for the adapter: `require` this file when the
 * package is not installed through Composer (the launchers in bin/ always do,
 * so they work from a plain checkout or a Lambda layer).  It maps the PSR-4
 * prefix Dispatcher\Worker\ onto this folder, exactly as composer.json does.
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $prefix = 'Dispatcher\\Worker\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = __DIR__ . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
