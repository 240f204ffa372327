<?php

/*
 * The shared wire-protocol vectors (tests/vectors, see its README): every
 * to_worker vector through the adapter's Channel + FrameDecoder with the
 * codec of this run, and the canonical to_supervisor vectors re-encoded.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Tests;

use Dispatcher\Worker\Channel;
use Dispatcher\Worker\Msgpack\Bin;
use Dispatcher\Worker\Msgpack\Codecs;
use Dispatcher\Worker\Protocol\FrameDecoder;
use Dispatcher\Worker\Protocol\Messages;
use Dispatcher\Worker\Protocol\Invoke;
use Dispatcher\Worker\Protocol\ProtocolViolation;
use Dispatcher\Worker\Protocol\Shutdown;
use PHPUnit\Framework\TestCase;

final class VectorsTest extends TestCase
{
    private const DIR = __DIR__ . '/../../../tests/vectors/';

    /** @return array<string, array{string, array<string, mixed>}> */
    private static function vectors(string $direction): array
    {
        $out = [];
        foreach (glob(self::DIR . "{$direction}_*.json") ?: [] as $json) {
            $out[basename($json, '.json')] = [substr($json, 0, -5) . '.bin', json_decode((string) file_get_contents($json), true, 512, JSON_THROW_ON_ERROR)];
        }
        if ($out === []) {
            // Not a skip: without the vectors this suite proves nothing.
            throw new \RuntimeException('no shared vectors found in ' . self::DIR . ' (run .venv/bin/python tests/vectors/generate.py)');
        }
        return $out;
    }

    public function toWorker(): array
    {
        return self::vectors('to_worker');
    }

    public function toSupervisorCanonical(): array
    {
        return array_filter(self::vectors('to_supervisor'), static fn ($v) => $v[1]['valid'] && $v[1]['canonical']);
    }

    /** @dataProvider toWorker */
    public function testToWorkerVector(string $bin, array $doc): void
    {
        $in = fopen('php://memory', 'w+b');
        fwrite($in, (string) file_get_contents($bin));
        rewind($in);
        $channel = new Channel($in, fopen('php://memory', 'w+b'), $doc['max_frame'] ?? Channel::DEFAULT_MAX_FRAME);
        $decoder = new FrameDecoder(Codecs::fromEnvironment());
        try {
            $message = $decoder->decode((string) $channel->readFrame());
        } catch (ProtocolViolation $e) {
            $this->assertFalse($doc['valid'], "{$doc['description']}: rejected as {$e->reason}: {$e->getMessage()}");
            $this->assertSame($doc['error'], $e->reason, $doc['description']);
            return;
        }
        $this->assertTrue($doc['valid'], $doc['description'] . ': accepted, expected ' . ($doc['error'] ?? ''));
        $this->assertNull($channel->readFrame(), 'one frame per vector');
        $want = $doc['message'];
        if ($want['type'] === 'shutdown') {
            $this->assertInstanceOf(Shutdown::class, $message);
            return;
        }
        $this->assertInstanceOf(Invoke::class, $message);
        $this->assertSame([
            'id' => $want['id'],
            'payload' => base64_decode($want['payload']['$bin']),
            'deadline_ms' => $want['deadline_ms'],
            'function_arn' => $want['function_arn'],
            'trace_id' => $want['trace_id'],
            'client_context' => $want['client_context'],
            'cognito_identity' => $want['cognito_identity'],
            'tenant_id' => $want['tenant_id'],
        ], [
            'id' => $message->id,
            'payload' => $message->payload,
            'deadline_ms' => $message->deadlineMs,
            'function_arn' => $message->functionArn,
            'trace_id' => $message->traceId,
            'client_context' => $message->clientContext,
            'cognito_identity' => $message->cognitoIdentity,
            'tenant_id' => $message->tenantId,
        ]);
    }

    /** @dataProvider toSupervisorCanonical */
    public function testCanonicalToSupervisorVectorEncodesByteForByte(string $bin, array $doc): void
    {
        $frame = (string) file_get_contents($bin);
        $body = Codecs::fromEnvironment()->pack(self::withBin($doc['message']));
        $this->assertSame(bin2hex($frame), bin2hex(pack('N', strlen($body)) . $body), $doc['description']);
    }

    /** The stream frames this adapter sends are the shared canonical vectors, byte for byte. */
    public function testStreamMessagesAreTheCanonicalVectors(): void
    {
        $id = '8476a536-e9f4-11e8-9739-2dfe598c3fcd';
        $codec = Codecs::fromEnvironment();
        foreach ([
            'ready_stream' => Messages::ready(),
            'stream_open' => Messages::streamOpen($id, 'text/plain'),
            'stream_open_nil_content_type' => Messages::streamOpen($id, null),
            'stream_chunk' => Messages::streamChunk($id, "chunk-0\n"),
            'stream_chunk_empty' => Messages::streamChunk($id, ''),
            'stream_end' => Messages::streamEnd($id),
        ] as $name => $message) {
            $body = $codec->pack($message);
            $frame = (string) file_get_contents(self::DIR . "to_supervisor_{$name}.bin");
            $this->assertSame(bin2hex($frame), bin2hex(pack('N', strlen($body)) . $body), $name);
        }
    }

    private static function withBin(mixed $value): mixed
    {
        if (is_array($value) && array_keys($value) === ['$bin']) {
            return new Bin(base64_decode($value['$bin']));
        }
        return is_array($value) ? array_map(self::withBin(...), $value) : $value;
    }
}
