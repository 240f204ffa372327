<?php

/*
 * Event and result JSON for JSON-mode handlers, with the flags chosen once:
 * - decode: objects become associative arrays (so {} and [] both arrive as
 *   []), integers beyond PHP_INT_MAX arrive as strings (not lossy floats),
 *   depth up to 512.  Failure: Runtime.UnmarshalError.
 * - encode: UTF-8 and slashes as is, 1.0 stays 1.0.  Failure (invalid
 *   UTF-8, NAN/INF, recursion, too deep): Runtime.MarshalError.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

final class Json
{
    public const DECODE_FLAGS = JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING;
    public const ENCODE_FLAGS = JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION;
    public const DEPTH = 512;

    public static function decodeEvent(string $payload): mixed
    {
        try {
            return json_decode($payload, true, self::DEPTH, self::DECODE_FLAGS);
        } catch (\JsonException $e) {
            throw new LambdaError(LambdaError::UNMARSHAL, 'the event is not valid JSON: ' . $e->getMessage());
        }
    }

    public static function encodeResult(mixed $value): string
    {
        try {
            return json_encode($value, self::ENCODE_FLAGS, self::DEPTH);
        } catch (\JsonException $e) {
            throw new LambdaError(LambdaError::MARSHAL, sprintf('the handler returned a %s that json_encode() rejects: %s', get_debug_type($value), $e->getMessage()));
        }
    }
}
