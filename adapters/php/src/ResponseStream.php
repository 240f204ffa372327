<?php

/*
 * The response of one streaming invocation: every write() is sent to the
 * supervisor at once as `stream_chunk` frames (at most 128 KiB each), and from
 * there to the caller.  See StreamingHandler.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

use Dispatcher\Worker\Protocol\Messages;

final class ResponseStream
{
    public const CHUNK = 131072;
    public const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

    private ?string $contentType = null;
    private bool $opened = false;
    private int $written = 0;

    public function __construct(private readonly Session $session, public readonly string $requestId)
    {
    }

    /** The response's content type (default application/octet-stream); only before the first write. */
    public function setContentType(string $contentType): void
    {
        if ($this->opened) {
            throw new LambdaError('Runtime.InvalidStreamingOperation', 'cannot set the content type after the first byte was written');
        }
        $this->contentType = $contentType;
    }

    /**
     * Starts a function-URL response: status, headers and cookies as the JSON
     * prelude, then the 8 NUL bytes that end it; the body follows.
     *
     * @param array<string, string> $headers
     * @param list<string> $cookies
     */
    public function httpPrelude(int $statusCode = 200, array $headers = [], array $cookies = []): void
    {
        $this->setContentType(self::HTTP_INTEGRATION_CONTENT_TYPE);
        $prelude = ['statusCode' => $statusCode];
        if ($headers !== []) {
            $prelude['headers'] = $headers;
        }
        if ($cookies !== []) {
            $prelude['cookies'] = array_values($cookies);
        }
        $json = json_encode($prelude, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
        $this->write($json . str_repeat("\0", 8));
    }

    public function write(string $bytes): void
    {
        $this->open();
        $length = strlen($bytes);
        for ($at = 0; $at < $length; $at += self::CHUNK) {
            $this->session->send(Messages::streamChunk($this->requestId, substr($bytes, $at, self::CHUNK)));
        }
        $this->written += $length;
    }

    public function written(): int
    {
        return $this->written;
    }

    /** @internal the worker ends the stream when the handler returns */
    public function finish(): void
    {
        $this->open();
        $this->session->send(Messages::streamEnd($this->requestId));
    }

    private function open(): void
    {
        if (!$this->opened) {
            $this->opened = true;
            $this->session->send(Messages::streamOpen($this->requestId, $this->contentType));
        }
    }
}
