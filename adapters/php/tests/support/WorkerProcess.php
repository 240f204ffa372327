<?php

/*
 * Test harness: a real worker process (bin/dispatcher-worker.php or
 * bin/dispatcher-legacy.php) over pipes, driven the way the supervisor
 * drives it.  Frames are decoded with the pure codec plus the family of each
 * value, so tests can tell bin from str.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Tests\support;

use Dispatcher\Worker\Msgpack\Bin;
use Dispatcher\Worker\Msgpack\Format;
use Dispatcher\Worker\Msgpack\PureCodec;

final class WorkerProcess
{
    public const BIN = __DIR__ . '/../../bin/';
    public const FIXTURES = __DIR__ . '/../fixtures/';

    /** @var resource */
    private $proc;
    /** @var array<int, resource> */
    private array $pipes = [];
    private string $stderrPath;
    private PureCodec $codec;
    private ?int $exitCode = null;

    /**
     * @param list<string> $args
     * @param array<string, string> $env
     */
    public function __construct(public readonly string $launcher, array $args, array $env = [])
    {
        $this->codec = new PureCodec();
        $this->stderrPath = tempnam(sys_get_temp_dir(), 'worker-stderr-');
        $fullEnv = getenv() + ['DISPATCHER_PROTOCOL' => '1', 'DISPATCHER_FEATURES' => '', 'DISPATCHER_WORKER' => 'test'];
        $proc = proc_open(
            [PHP_BINARY, self::BIN . $launcher, ...$args],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', $this->stderrPath, 'w']],
            $this->pipes,
            null,
            array_merge($fullEnv, $env),
        );
        if ($proc === false) {
            throw new \RuntimeException('cannot start ' . $launcher);
        }
        $this->proc = $proc;
    }

    public static function handler(string $fixture, array $env = []): self
    {
        return new self('dispatcher-worker.php', [self::FIXTURES . $fixture], $env);
    }

    /** @param array<string, mixed> $message */
    public function send(array $message): void
    {
        $this->sendRaw(pack('N', strlen($body = $this->codec->pack($message))) . $body);
    }

    public function sendRaw(string $bytes): void
    {
        fwrite($this->pipes[0], $bytes);
        fflush($this->pipes[0]);
    }

    public function invoke(string $payload, string $id = 'req-1', ?string $traceId = null, ?string $clientContext = null): void
    {
        $this->send([
            'type' => 'invoke',
            'id' => $id,
            'payload' => new Bin($payload),
            'deadline_ms' => (int) (microtime(true) * 1000) + 60_000,
            'function_arn' => 'arn:aws:lambda:us-east-1:123456789012:function:test',
            'trace_id' => $traceId,
            'client_context' => $clientContext,
            'cognito_identity' => null,
            'tenant_id' => null,
        ]);
    }

    /**
     * The next frame as key => value, with "@family" => [key => msgpack family];
     * null on EOF.
     *
     * @return array<string, mixed>|null
     */
    public function read(): ?array
    {
        $header = $this->readExactly(4);
        if ($header === '') {
            return null;
        }
        $body = $this->readExactly(unpack('N', $header)[1]);
        $offset = 0;
        $n = Format::mapHeaderAt($body, $offset);
        $out = ['@family' => []];
        for ($i = 0; $i < $n; $i++) {
            $key = $this->codec->unpackAt($body, $offset);
            $out['@family'][$key] = Format::familyAt($body, $offset);
            $out[$key] = $this->codec->unpackAt($body, $offset);
        }
        if ($offset !== strlen($body)) {
            throw new \RuntimeException('trailing bytes in a frame from the worker');
        }
        return $out;
    }

    private function readExactly(int $n): string
    {
        $buf = '';
        while (strlen($buf) < $n) {
            $chunk = fread($this->pipes[1], $n - strlen($buf));
            if ($chunk === false || $chunk === '') {
                if (feof($this->pipes[1])) {
                    break;
                }
                continue;
            }
            $buf .= $chunk;
        }
        return $buf;
    }

    /** Closes stdin and waits for the exit status. */
    public function finish(): int
    {
        if ($this->exitCode === null) {
            @fclose($this->pipes[0]);
            stream_get_contents($this->pipes[1]);
            fclose($this->pipes[1]);
            $this->exitCode = proc_close($this->proc);
        }
        return $this->exitCode;
    }

    public function stderr(): string
    {
        return (string) file_get_contents($this->stderrPath);
    }

    public function __destruct()
    {
        $this->finish();
        @unlink($this->stderrPath);
    }
}
