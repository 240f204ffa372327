<?php

/*
 * Loads a handler file named on the command line, Bref style: the file
 * returns the handler (a callable, or a RawHandler).  Used as the init hook
 * of bin/dispatcher-worker.php, so every failure here becomes init_error.
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
            if (count($argv) !== 2 || $argv[1] === '') {
                throw new LambdaError(LambdaError::INVALID_ENTRYPOINT, sprintf(
                    'usage: php %s HANDLER_FILE (one argument: a PHP file that returns the handler); got %d arguments',
                    $argv[0] ?? 'dispatcher-worker.php',
                    max(0, count($argv) - 1),
                ));
            }
            $path = $argv[1];
            if (!is_file($path) || !is_readable($path)) {
                throw new LambdaError(LambdaError::IMPORT_MODULE, sprintf(
                    'handler file "%s" not found or not readable (relative paths start at the worker\'s cwd, %s)',
                    $path,
                    getcwd(),
                ));
            }
            // A closure of its own, so the file sees none of the adapter's variables.
            return (static fn () => require func_get_arg(0))($path);
        };
    }
}
