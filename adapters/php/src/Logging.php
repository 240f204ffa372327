<?php

/*
 * Log records for the supervisor to forward (docs/logging.md).  There is no
 * AWS runtime for PHP, so the records are those of AWS's Node.js runtime:
 *
 * - Text: `<RFC 3339 time>\t<request id>\t<LEVEL>\t<message>`;
 * - JSON (AWS_LAMBDA_LOG_FORMAT=JSON): {"timestamp","level","requestId","message"}.
 *
 * error_log() and fwrite(STDERR) lines go out as written (under JSON format
 * the supervisor wraps each as an INFO record).  Under JSON format PHP's own
 * warnings, notices and deprecations become records at WARN, INFO and DEBUG
 * instead of `PHP Warning:  ...` lines.  A handler error is logged at ERROR
 * as the Node runtime logs it ("Invoke Error" and the error as JSON).  A
 * newline inside a record is written as `\r`, so the record stays whole.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

final class Logging
{
    private static bool $json = false;
    private static ?string $requestId = null;

    /** Read AWS_LAMBDA_LOG_FORMAT once; under JSON, PHP's own diagnostics become records. */
    public static function configure(): void
    {
        self::$json = strtoupper((string) getenv('AWS_LAMBDA_LOG_FORMAT')) === 'JSON';
        if (self::$json) {
            set_error_handler(self::onPhpError(...), E_WARNING | E_NOTICE | E_DEPRECATED | E_USER_WARNING | E_USER_NOTICE | E_USER_DEPRECATED);
        }
    }

    /** The invocation whose records follow (null between invocations). */
    public static function setRequest(?string $requestId): void
    {
        self::$requestId = $requestId;
    }

    public static function timestamp(float $now): string
    {
        $seconds = (int) floor($now);
        return gmdate('Y-m-d\TH:i:s', $seconds) . sprintf('.%03dZ', (int) (($now - $seconds) * 1000));
    }

    public static function record(string $level, mixed $message): string
    {
        $time = self::timestamp(microtime(true));
        if (self::$json) {
            $line = json_encode(
                ['timestamp' => $time, 'level' => $level, 'requestId' => self::$requestId, 'message' => $message],
                JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR,
            );
            if (self::$requestId === null) {
                $line = str_replace(',"requestId":null', '', (string) $line);
            }
        } else {
            $line = sprintf("%s\t%s\t%s\t%s", $time, self::$requestId ?? 'undefined', $level, (string) $message);
        }
        return str_replace("\n", "\r", (string) $line);
    }

    public static function write(string $level, mixed $message): void
    {
        fwrite(STDERR, self::record($level, $message) . "\n");
    }

    /** A handler error about to be answered. */
    public static function invokeError(ErrorReport $error): void
    {
        $doc = ['errorType' => $error->type, 'errorMessage' => $error->message, 'stackTrace' => $error->stackTrace];
        if (self::$json) {
            self::write('ERROR', $doc);
            return;
        }
        $text = json_encode($doc, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PARTIAL_OUTPUT_ON_ERROR);
        self::write('ERROR', "Invoke Error \t" . $text);
    }

    private static function onPhpError(int $errno, string $errstr, string $errfile, int $errline): bool
    {
        if ((error_reporting() & $errno) === 0) {
            return false; // silenced with @ or by error_reporting: PHP's own handling (none)
        }
        $level = match ($errno) {
            E_WARNING, E_USER_WARNING => 'WARN',
            E_NOTICE, E_USER_NOTICE => 'INFO',
            default => 'DEBUG',
        };
        self::write($level, sprintf('%s in %s on line %d', $errstr, $errfile, $errline));
        return true;
    }
}
