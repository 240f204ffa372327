<?php

/*
 * Marks a handler as streaming (protocol feature `stream`, docs/protocol.md
 * "Streaming"): it gets the event, the context and a ResponseStream, and
 * writes its response with `$out->write($bytes)` as it produces it.
 *
 *     return new StreamingHandler(function (mixed $event, Context $context, ResponseStream $out): void {
 *         $out->httpPrelude(200, ['content-type' => 'text/plain']);   // for a function URL
 *         foreach (rows() as $row) {
 *             $out->write($row . "\n");
 *         }
 *     });
 *
 * Returning ends the response; a Throwable ends it with an error (in the
 * error trailers once bytes were written, an ordinary error before that).
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

final class StreamingHandler
{
    /** @var callable(mixed, Context, ResponseStream): mixed */
    public readonly mixed $handler;

    /** @param callable(mixed, Context, ResponseStream): mixed $handler */
    public function __construct(callable $handler, public readonly bool $raw = false)
    {
        $this->handler = $handler;
    }
}
