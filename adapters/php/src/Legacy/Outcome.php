<?php

/*
 * The reply to one legacy invocation, from how the child ended:
 * - it reported an uncaught exception or fatal error: that error;
 * - killed by a signal, or a non-zero exit status with no output:
 *   Runtime.ExitError;
 * - otherwise its output is the response body: sent as is when it is valid
 *   JSON, else as one JSON string (invalid UTF-8 replaced by U+FFFD).
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Legacy;

use Dispatcher\Worker\ErrorReport;
use Dispatcher\Worker\LambdaError;

final class Outcome
{
    private const SIGNALS = [1 => 'SIGHUP', 2 => 'SIGINT', 6 => 'SIGABRT', 9 => 'SIGKILL', 11 => 'SIGSEGV', 13 => 'SIGPIPE', 15 => 'SIGTERM'];

    /** @param int $status as filled in by pcntl_waitpid() */
    public static function decide(int $status, string $output, ?ErrorReport $report): string|ErrorReport
    {
        if ($report !== null) {
            return $report;
        }
        if (pcntl_wifsignaled($status)) {
            $sig = pcntl_wtermsig($status);
            return new ErrorReport(LambdaError::EXIT, sprintf('the legacy script was killed by signal %d (%s)', $sig, self::SIGNALS[$sig] ?? 'see `kill -l`'));
        }
        $code = pcntl_wifexited($status) ? pcntl_wexitstatus($status) : 0;
        if ($code !== 0 && $output === '') {
            return new ErrorReport(LambdaError::EXIT, sprintf('the legacy script exited with status %d and wrote no output (its stderr is in the log)', $code));
        }
        return self::body($output);
    }

    public static function body(string $output): string
    {
        json_decode($output, false, 100000);
        if (json_last_error() === JSON_ERROR_NONE) {
            return $output;
        }
        return json_encode($output, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE);
    }
}
