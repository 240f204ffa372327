<?php

/*
 * Marks a PHP string as msgpack *bin* for the encoders.  PHP has one string
 * type, and php-msgpack packs every string as str; the protocol needs bin for
 * payloads, so the adapter says which strings are bytes.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Msgpack;

final class Bin
{
    public function __construct(public readonly string $bytes)
    {
    }
}
