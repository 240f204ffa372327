<?php

/*
 * Frame body -> Invoke | Shutdown, validated exactly as docs/protocol.md says
 * and in the order of tests/vectors/README.md, so each violation gets the
 * code the shared vectors name.  Sans-IO: bytes in, value or exception out.
 *
 * The top-level map is walked here rather than handed whole to the codec:
 * PHP strings lose the str/bin distinction and PHP arrays turn the str key
 * "1" into int 1, and both matter for validation.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Protocol;

use Dispatcher\Worker\Msgpack\Codec;
use Dispatcher\Worker\Msgpack\DecodeError;
use Dispatcher\Worker\Msgpack\Format;

final class FrameDecoder
{
    private const NULLABLE_STR = ['trace_id', 'client_context', 'cognito_identity', 'tenant_id'];

    public function __construct(private readonly Codec $codec)
    {
    }

    /** @throws ProtocolViolation */
    public function decode(string $body): Invoke|Shutdown
    {
        if ($body === '') {
            throw new ProtocolViolation('empty_frame', 'frame of length 0');
        }
        $fields = $this->readMap($body);
        [$typeFamily, $type] = $fields['type'] ?? [null, null];
        if ($typeFamily !== Format::STR) {
            throw new ProtocolViolation('missing_type', $typeFamily === null
                ? 'frame map has no "type" key'
                : "frame key \"type\" is $typeFamily, not str");
        }
        return match ($type) {
            'invoke' => self::invoke($fields),
            'shutdown' => new Shutdown(),
            default => throw new ProtocolViolation('unknown_type', sprintf('frame type "%s" is not one a worker receives (invoke, shutdown)', $type)),
        };
    }

    /**
     * @return array<string, array{string, mixed}> key => [msgpack family, value]
     */
    private function readMap(string $body): array
    {
        $offset = 0;
        $pairs = [];
        try {
            $count = Format::mapHeaderAt($body, $offset);
            if ($count === null) {
                $family = Format::familyAt($body, 0);
                $this->codec->unpackAt($body, $offset); // a broken value is invalid_msgpack first
                self::checkEnd($body, $offset);
                throw new ProtocolViolation('not_a_map', "frame holds a msgpack $family, not a map");
            }
            for ($i = 0; $i < $count; $i++) {
                $keyFamily = Format::familyAt($body, $offset);
                $key = $this->codec->unpackAt($body, $offset);
                $valueFamily = Format::familyAt($body, $offset);
                $value = $this->codec->unpackAt($body, $offset);
                $pairs[] = [$keyFamily, $key, $valueFamily, $value];
            }
        } catch (DecodeError $e) {
            throw new ProtocolViolation('invalid_msgpack', 'frame is not one msgpack value: ' . $e->getMessage());
        }
        self::checkEnd($body, $offset);
        $fields = [];
        foreach ($pairs as [$keyFamily, $key, $valueFamily, $value]) {
            if ($keyFamily !== Format::STR) {
                throw new ProtocolViolation('non_str_key', "frame map has a $keyFamily key; keys must be str");
            }
            $fields[(string) $key] = [$valueFamily, $value];
        }
        return $fields;
    }

    private static function checkEnd(string $body, int $offset): void
    {
        if ($offset !== strlen($body)) {
            throw new ProtocolViolation('trailing_data', sprintf('%d bytes follow the msgpack value inside the frame', strlen($body) - $offset));
        }
    }

    /** @param array<string, array{string, mixed}> $fields */
    private static function invoke(array $fields): Invoke
    {
        $id = self::field($fields, 'id', [Format::STR]);
        $payload = self::field($fields, 'payload', [Format::BIN]);
        $deadline = self::field($fields, 'deadline_ms', [Format::INT]);
        if (!is_int($deadline)) {
            throw new ProtocolViolation('bad_field', "invoke key \"deadline_ms\" ($deadline) does not fit a PHP int");
        }
        $arn = self::field($fields, 'function_arn', [Format::STR]);
        $optional = [];
        foreach (self::NULLABLE_STR as $key) {
            // Absent is taken as nil: the supervisor always sends them, and the
            // vectors leave a missing nullable key open.
            $optional[$key] = isset($fields[$key]) ? self::field($fields, $key, [Format::STR, Format::NIL]) : null;
        }
        return new Invoke(
            $id,
            $payload,
            $deadline,
            $arn,
            $optional['trace_id'],
            $optional['client_context'],
            $optional['cognito_identity'],
            $optional['tenant_id'],
        );
    }

    /**
     * @param array<string, array{string, mixed}> $fields
     * @param list<string> $families
     */
    private static function field(array $fields, string $key, array $families): mixed
    {
        if (!isset($fields[$key])) {
            throw new ProtocolViolation('bad_field', "invoke frame lacks the key \"$key\"");
        }
        [$family, $value] = $fields[$key];
        if (!in_array($family, $families, true)) {
            throw new ProtocolViolation('bad_field', sprintf('invoke key "%s" is %s, expected %s', $key, $family, implode(' or ', $families)));
        }
        return $value;
    }
}
