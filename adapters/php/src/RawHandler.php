<?php

/*
 * Marks a handler as raw: it gets the event bytes exactly as received and
 * returns the response bytes (a string), with no JSON on either side.
 * A handler file selects it with `return new RawHandler(fn (string $event, Context $c): string => ...);`
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

final class RawHandler
{
    /** @var callable(string, Context): string */
    public readonly mixed $handler;

    /** @param callable(string, Context): string $handler */
    public function __construct(callable $handler)
    {
        $this->handler = $handler;
    }

    public function __invoke(string $payload, Context $context): string
    {
        $out = ($this->handler)($payload, $context);
        if (!is_string($out)) {
            throw new LambdaError(LambdaError::MARSHAL, 'a raw handler must return a string, it returned ' . get_debug_type($out));
        }
        return $out;
    }
}
