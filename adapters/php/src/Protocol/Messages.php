<?php

/*
 * The maps a worker sends (docs/protocol.md, "Worker to supervisor"), ready
 * for Codec::pack().  Payloads are wrapped in Bin so they go out as bin.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Protocol;

use Dispatcher\Worker\ErrorReport;
use Dispatcher\Worker\Msgpack\Bin;

final class Messages
{
    public const PROTOCOL_VERSION = 1;

    /** @return array<string, mixed> */
    public static function ready(): array
    {
        return ['type' => 'ready', 'protocol' => self::PROTOCOL_VERSION, 'features' => []];
    }

    /** @return array<string, mixed> */
    public static function initError(ErrorReport $error): array
    {
        return ['type' => 'init_error'] + $error->fields();
    }

    /** @return array<string, mixed> */
    public static function result(string $id, string $body): array
    {
        return ['type' => 'result', 'id' => $id, 'payload' => new Bin($body)];
    }

    /** @return array<string, mixed> */
    public static function error(string $id, ErrorReport $error): array
    {
        return ['type' => 'error', 'id' => $id] + $error->fields();
    }
}
