<?php

/*
 * The bytes do not hold a complete, valid msgpack value (reserved byte 0xc1,
 * a value cut short, nesting too deep).
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Msgpack;

final class DecodeError extends \RuntimeException
{
}
