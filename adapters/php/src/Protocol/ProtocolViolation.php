<?php

/*
 * The supervisor sent something that is not a valid v1 frame.  $reason is the
 * error code of tests/vectors/README.md (empty_frame, frame_too_large,
 * invalid_msgpack, trailing_data, not_a_map, non_str_key, missing_type,
 * unknown_type, bad_field, plus truncated_frame for EOF inside a frame).
 * The adapter answers it with a diagnostic on stderr and exit status 70.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Protocol;

final class ProtocolViolation extends \RuntimeException
{
    public const EXIT_STATUS = 70; // EX_SOFTWARE

    public function __construct(public readonly string $reason, string $message)
    {
        parent::__construct($message);
    }
}
