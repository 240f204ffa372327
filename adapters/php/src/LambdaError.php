<?php

/*
 * A failure with a Lambda error type of its own (Runtime.UnmarshalError,
 * Runtime.HandlerNotFound, ...), as opposed to a user exception, whose type
 * is its class name.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

final class LambdaError extends \RuntimeException
{
    public const UNMARSHAL = 'Runtime.UnmarshalError';
    public const MARSHAL = 'Runtime.MarshalError';
    public const IMPORT_MODULE = 'Runtime.ImportModuleError';
    public const HANDLER_NOT_FOUND = 'Runtime.HandlerNotFound';
    public const INVALID_ENTRYPOINT = 'Runtime.InvalidEntrypoint';
    public const EXIT = 'Runtime.ExitError';
    public const RESPONSE_TOO_LARGE = 'Function.ResponseSizeTooLarge';

    public function __construct(public readonly string $errorType, string $message, ?\Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
    }
}
