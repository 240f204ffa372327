<?php

/*
 * Loads a handler file named on the command line, Bref style: the file
 * returns the handler (a callable, a RawHandler or a Bref\Event\Handler).
 * Without an argument the file is `_HANDLER`, as Bref's function runtime
 * reads it (in Lambda, the function's Handler setting, e.g. index.php).
 * Used as the init hook of bin/dispatcher-worker.php, so every failure here
 * becomes init_error.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

final class HandlerFile
{
    /**
     * @param list<string> $argv
     * @return \Closure(): mixed
     */
    public static function loader(array $argv): \Closure
    {
        return static function () use ($argv): mixed {
            $fromEnv = count($argv) === 1 && (string) getenv('_HANDLER') !== '';
            if (!$fromEnv && (count($argv) !== 2 || $argv[1] === '')) {
                throw new LambdaError(LambdaError::INVALID_ENTRYPOINT, sprintf(
                    'usage: php %s [HANDLER_FILE] (a PHP file that returns the handler; default: $_HANDLER, which is not set); got %d arguments',
                    $argv[0] ?? 'dispatcher-worker.php',
                    max(0, count($argv) - 1),
                ));
            }
            $path = $fromEnv ? (string) getenv('_HANDLER') : $argv[1];
            if (!is_file($path) || !is_readable($path)) {
                throw new LambdaError(LambdaError::IMPORT_MODULE, sprintf(
                    'handler file "%s"%s not found or not readable (relative paths start at the worker\'s cwd, %s)',
                    $path,
                    $fromEnv ? ' (from _HANDLER)' : '',
                    getcwd(),
                ));
            }
            // A closure of its own, so the file sees none of the adapter's variables.
            return (static fn () => require func_get_arg(0))($path);
        };
    }
}
