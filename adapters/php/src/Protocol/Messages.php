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
    /** Optional frame kinds this adapter can send (docs/protocol.md "Streaming"). */
    public const FEATURES = ['stream'];

    /** @return array<string, mixed> */
    /** @param list<string> $features */
    public static function ready(array $features = self::FEATURES): array
    {
        return ['type' => 'ready', 'protocol' => self::PROTOCOL_VERSION, 'features' => $features];
    }

    /** @return array<string, mixed> */
    public static function streamOpen(string $id, ?string $contentType): array
    {
        return ['type' => 'stream_open', 'id' => $id, 'content_type' => $contentType];
    }

    /** @return array<string, mixed> */
    public static function streamChunk(string $id, string $data): array
    {
        return ['type' => 'stream_chunk', 'id' => $id, 'data' => new Bin($data)];
    }

    /** @return array<string, mixed> */
    public static function streamEnd(string $id): array
    {
        return ['type' => 'stream_end', 'id' => $id];
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
