<?php

/*
 * _X_AMZN_TRACE_ID for the current invocation: set in the process
 * environment (getenv, child processes), $_SERVER and $_ENV; unset
 * everywhere when the invocation has none, so an old id never carries over.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

final class TraceEnv
{
    public const NAME = '_X_AMZN_TRACE_ID';

    public static function apply(?string $traceId): void
    {
        if ($traceId === null) {
            putenv(self::NAME);
            unset($_SERVER[self::NAME], $_ENV[self::NAME]);
            return;
        }
        putenv(self::NAME . '=' . $traceId);
        $_SERVER[self::NAME] = $traceId;
        $_ENV[self::NAME] = $traceId;
    }
}
