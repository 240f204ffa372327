<?php

/*
 * The frame channel to the supervisor: private handles on fds 0 and 1,
 * opened before any user code runs, read and written as length-prefixed
 * frames.  php://fd/N dup()s the descriptor, so these handles keep working
 * after Stdio points fds 0 and 1 elsewhere.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

use Dispatcher\Worker\Protocol\ProtocolViolation;

final class Channel
{
    public const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;

    /**
     * @param resource $in
     * @param resource $out
     */
    public function __construct(private $in, private $out, public readonly int $maxFrame)
    {
        // Unbuffered reads: fread() then asks the pipe for the whole remainder
        // at once instead of 8 KiB at a time, which matters for 6 MB events.
        stream_set_read_buffer($this->in, 0);
        stream_set_write_buffer($this->out, 0);
    }

    public static function open(int $maxFrame): self
    {
        $in = fopen('php://fd/0', 'rb');
        $out = fopen('php://fd/1', 'wb');
        if ($in === false || $out === false) {
            throw new \RuntimeException('cannot open the frame channel on fds 0/1 (php://fd/0, php://fd/1)');
        }
        return new self($in, $out, $maxFrame);
    }

    /** @throws \InvalidArgumentException naming the bad value */
    public static function maxFrameFromEnvironment(): int
    {
        $raw = getenv('DISPATCHER_MAX_FRAME');
        if ($raw === false || $raw === '') {
            return self::DEFAULT_MAX_FRAME;
        }
        if (!preg_match('/^[1-9][0-9]{0,17}$/', $raw)) {
            throw new \InvalidArgumentException(sprintf('DISPATCHER_MAX_FRAME must be a positive decimal number of bytes, not "%s"', $raw));
        }
        return (int) $raw;
    }

    /**
     * The next frame body, or null on EOF between frames (= shutdown).
     *
     * @throws ProtocolViolation
     */
    public function readFrame(): ?string
    {
        $header = $this->readExactly(4);
        if ($header === '') {
            return null;
        }
        if (strlen($header) < 4) {
            throw new ProtocolViolation('truncated_frame', sprintf('stdin ended inside a frame header (%d of 4 bytes)', strlen($header)));
        }
        $n = unpack('N', $header)[1];
        if ($n === 0) {
            throw new ProtocolViolation('empty_frame', 'frame of length 0');
        }
        if ($n > $this->maxFrame) {
            throw new ProtocolViolation('frame_too_large', sprintf('frame of %d bytes exceeds DISPATCHER_MAX_FRAME=%d', $n, $this->maxFrame));
        }
        $body = $this->readExactly($n);
        if (strlen($body) < $n) {
            throw new ProtocolViolation('truncated_frame', sprintf('stdin ended inside a frame (%d of %d bytes)', strlen($body), $n));
        }
        return $body;
    }

    /** Up to $n bytes; fewer only at EOF. */
    private function readExactly(int $n): string
    {
        $chunks = [];
        $have = 0;
        while ($have < $n) {
            $chunk = fread($this->in, $n - $have);
            if ($chunk === false || $chunk === '') {
                if (feof($this->in) || $chunk === false) {
                    break;
                }
                continue;
            }
            $chunks[] = $chunk;
            $have += strlen($chunk);
        }
        return count($chunks) === 1 ? $chunks[0] : implode('', $chunks);
    }

    public function writeFrame(string $body): void
    {
        $data = pack('N', strlen($body)) . $body;
        $total = strlen($data);
        for ($done = 0; $done < $total; $done += $n) {
            $n = fwrite($this->out, $done === 0 ? $data : substr($data, $done));
            if ($n === false || $n === 0) {
                throw new \RuntimeException('the supervisor closed the frame channel (writing to fd 1 failed)');
            }
        }
    }

    /** Used by a forked child: it must never touch the parent's channel. */
    public function close(): void
    {
        fclose($this->in);
        fclose($this->out);
    }
}
