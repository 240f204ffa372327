<?php

/*
 * error_type / error_message / stack_trace of an `error` or `init_error`
 * frame, built from a Throwable or from a fatal error (error_get_last()).
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

final class ErrorReport
{
    /** Error types that end the script and cannot be caught. */
    public const FATAL_TYPES = E_ERROR | E_PARSE | E_CORE_ERROR | E_COMPILE_ERROR | E_USER_ERROR;

    /** @param list<string> $stackTrace */
    public function __construct(
        public readonly string $type,
        public readonly string $message,
        public readonly array $stackTrace = [],
    ) {
    }

    /** A LambdaError keeps its own type; anything else is named by its class (App\Exceptions\Boom). */
    public static function fromThrowable(\Throwable $e): self
    {
        if ($e instanceof LambdaError) {
            $type = $e->errorType;
            $cause = $e->getPrevious();
            $lines = $cause === null ? [] : self::traceLines($cause);
        } else {
            $type = get_class($e);
            $lines = self::traceLines($e);
        }
        return new self($type, $e->getMessage(), $lines);
    }

    /** @return list<string> */
    private static function traceLines(\Throwable $e): array
    {
        $lines = [];
        for ($first = true; $e !== null; $e = $e->getPrevious(), $first = false) {
            if (!$first) {
                $lines[] = sprintf('Caused by %s: %s', get_class($e), $e->getMessage());
            }
            $lines[] = sprintf('at %s:%d', $e->getFile(), $e->getLine());
            foreach (explode("\n", $e->getTraceAsString()) as $line) {
                $lines[] = $line;
            }
        }
        return $lines;
    }

    /**
     * @param array{type: int, message: string, file: string, line: int}|null $error from error_get_last()
     */
    public static function fromFatal(?array $error, string $type): ?self
    {
        if ($error === null || ($error['type'] & self::FATAL_TYPES) === 0) {
            return null;
        }
        return new self($type, sprintf('PHP Fatal error: %s', $error['message']), [sprintf('at %s:%d', $error['file'], $error['line'])]);
    }

    /** @return array{error_type: string, error_message: string, stack_trace: list<string>} */
    public function fields(): array
    {
        return ['error_type' => $this->type, 'error_message' => $this->message, 'stack_trace' => $this->stackTrace];
    }
}
