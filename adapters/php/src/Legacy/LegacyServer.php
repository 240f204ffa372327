<?php

/*
 * Serves an unedited procedural script (echo output, globals, functions,
 * exit()) once per invocation: the warm parent owns the frame channel and
 * forks a child per invoke; the child gets the event on fd 0 and its fd 1
 * on a capture file, and returns to bin/dispatcher-legacy.php, which includes
 * the script at global scope.  Each child starts from the parent's pristine
 * state, so globals and declared functions never leak between invocations.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Legacy;

use Dispatcher\Worker\ErrorReport;
use Dispatcher\Worker\LambdaError;
use Dispatcher\Worker\Protocol\Invoke;
use Dispatcher\Worker\Session;
use Dispatcher\Worker\Stdio;

final class LegacyServer
{
    private function __construct(
        private readonly Session $session,
        private readonly Stdio $stdio,
        private readonly string $script,
    ) {
    }

    /**
     * Runs the parent loop.  Returns only in a forked child, with the path of
     * the script to include; the parent exits on shutdown or EOF.
     *
     * @param list<string> $argv
     */
    public static function serveUntilChild(array $argv): string
    {
        $session = Session::openOrExit();
        try {
            $stdio = Stdio::fromEnvironment();
            $stdio->protect();
            $script = self::scriptFrom($argv);
        } catch (LambdaError $e) {
            $session->failInit(ErrorReport::fromThrowable($e));
        } catch (\Throwable $e) {
            $session->failInit(new ErrorReport(LambdaError::INVALID_ENTRYPOINT, $e->getMessage()));
        }
        $syntax = self::lint($script);
        if ($syntax !== null) {
            $session->failInit(new ErrorReport('ParseError', $syntax, ['at ' . $script]));
        }
        $session->ready([]); // a legacy script echoes its output: it never streams
        return (new self($session, $stdio, $script))->loop();
    }

    /** @param list<string> $argv */
    private static function scriptFrom(array $argv): string
    {
        if (!function_exists('pcntl_fork')) {
            throw new LambdaError(LambdaError::INVALID_ENTRYPOINT, 'the legacy launcher needs the pcntl extension (part of Debian\'s php-cli; check with `php -m | grep pcntl`)');
        }
        if (count($argv) !== 2 || $argv[1] === '') {
            throw new LambdaError(LambdaError::INVALID_ENTRYPOINT, sprintf('usage: php %s SCRIPT (one argument: the PHP script to run per invocation); got %d arguments', $argv[0] ?? 'dispatcher-legacy.php', max(0, count($argv) - 1)));
        }
        $script = realpath($argv[1]);
        if ($script === false || !is_file($script) || !is_readable($script)) {
            throw new LambdaError(LambdaError::IMPORT_MODULE, sprintf('legacy script "%s" not found or not readable (relative paths start at the worker\'s cwd, %s)', $argv[1], getcwd()));
        }
        return $script;
    }

    /** `php -l`, once at startup: a syntax error is an init error, not an error on every invoke. */
    private static function lint(string $script): ?string
    {
        $proc = proc_open(
            [PHP_BINARY, '-d', 'display_errors=stdout', '-d', 'log_errors=0', '-l', $script],
            [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
            $pipes,
        );
        if ($proc === false) {
            return null; // cannot lint: the first invoke will report the error instead
        }
        $out = stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        if (proc_close($proc) === 0) {
            return null;
        }
        $lines = array_filter(array_map('trim', explode("\n", $out)), static fn (string $l) => $l !== '' && !str_starts_with($l, 'Errors parsing'));
        return implode(' ', $lines) ?: "php -l rejected $script";
    }

    private function loop(): string
    {
        while (true) {
            $invoke = $this->session->nextOrExit();
            try {
                $scratch = Scratch::create($invoke->payload);
            } catch (\RuntimeException $e) {
                $this->session->error($invoke->id, new ErrorReport('Runtime.ScratchError', $e->getMessage()));
                continue;
            }
            $pid = pcntl_fork();
            if ($pid === 0) {
                $this->enterChild($invoke, $scratch);
                return $this->script;
            }
            if ($pid < 0) {
                $scratch->remove();
                $this->session->error($invoke->id, new ErrorReport('Runtime.ForkError', 'pcntl_fork() failed: ' . pcntl_strerror(pcntl_get_last_error())));
                continue;
            }
            $status = self::reap($pid);
            $outcome = Outcome::decide($status, $scratch->output(), $scratch->report());
            $scratch->remove();
            if ($outcome instanceof ErrorReport) {
                $this->session->error($invoke->id, $outcome);
            } else {
                $this->session->result($invoke->id, $outcome);
            }
        }
    }

    private static function reap(int $pid): int
    {
        $status = 0;
        do {
            $got = pcntl_waitpid($pid, $status);
        } while ($got === -1 && pcntl_get_last_error() === PCNTL_EINTR);
        return $status;
    }

    /** In the child: drop the channel, point fds 0/1 at the scratch files, set up the CLI globals. */
    private function enterChild(Invoke $invoke, Scratch $scratch): void
    {
        $this->session->channel->close();
        $this->stdio->redirect(0, $scratch->eventPath);
        $this->stdio->redirect(1, $scratch->outputPath);
        // Warnings belong in the log, not in the response body.
        ini_set('display_errors', 'stderr');

        $vars = [
            'LAMBDA_REQUEST_ID' => $invoke->id,
            'LAMBDA_DEADLINE_MS' => (string) $invoke->deadlineMs,
            'LAMBDA_INVOKED_FUNCTION_ARN' => $invoke->functionArn,
        ];
        foreach ($vars as $name => $value) {
            putenv("$name=$value");
            $_SERVER[$name] = $_ENV[$name] = $value;
        }
        $GLOBALS['argv'] = $_SERVER['argv'] = [$this->script];
        $GLOBALS['argc'] = $_SERVER['argc'] = 1;
        $_SERVER['SCRIPT_FILENAME'] = $_SERVER['SCRIPT_NAME'] = $_SERVER['PHP_SELF'] = $_SERVER['PATH_TRANSLATED'] = $this->script;

        $reportPath = $scratch->reportPath;
        set_exception_handler(static function (\Throwable $e) use ($reportPath): void {
            fwrite(STDERR, sprintf("PHP Fatal error:  Uncaught %s: %s in %s:%d\n", get_class($e), $e->getMessage(), $e->getFile(), $e->getLine()));
            Scratch::writeReport($reportPath, ErrorReport::fromThrowable($e));
        });
        // Registered from a shutdown function so that it runs after the script's own.
        register_shutdown_function(static function () use ($reportPath): void {
            register_shutdown_function(static function () use ($reportPath): void {
                $fatal = ErrorReport::fromFatal(error_get_last(), LambdaError::EXIT);
                if ($fatal !== null && filesize($reportPath) === 0) {
                    Scratch::writeReport($reportPath, $fatal);
                }
            });
        });
    }
}
