<?php

/*
 * What a handler knows about its invocation: the Runtime API headers of this
 * invoke and the function's settings from the environment (read once).
 *
 * It also offers Bref's API (getAwsRequestId(), getInvokedFunctionArn(),
 * getTraceId(), getRemainingTimeInMillis(), jsonSerialize(), fake(), and
 * the same first four constructor parameters), so that when Bref is not
 * installed this class can stand in for Bref\Context\Context (BrefCompat).
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

use Dispatcher\Worker\Protocol\Invoke;

final class Context implements \JsonSerializable
{
    /** @var \Closure(): int */
    private readonly \Closure $nowMs;

    /**
     * @param ?string $clientContext JSON text of Lambda-Runtime-Client-Context; see clientContextData()
     * @param ?string $identity JSON text of Lambda-Runtime-Cognito-Identity; see identityData()
     * @param (\Closure(): int)|null $nowMs wall clock in Unix milliseconds (tests pass a fake)
     */
    public function __construct(
        public readonly string $requestId,
        public readonly int $deadlineMs,
        public readonly string $invokedFunctionArn,
        public readonly ?string $traceId,
        public readonly ?string $clientContext = null,
        public readonly ?string $identity = null,
        public readonly ?string $tenantId = null,
        public readonly string $functionName = '',
        public readonly string $functionVersion = '',
        public readonly int $memoryLimitInMb = 0,
        public readonly string $logGroupName = '',
        public readonly string $logStreamName = '',
        ?\Closure $nowMs = null,
    ) {
        $this->nowMs = $nowMs ?? static fn (): int => (int) floor(microtime(true) * 1000);
    }

    /** @param array<string, string> $env the process environment (getenv()) */
    public static function fromInvoke(Invoke $invoke, array $env): self
    {
        return new self(
            $invoke->id,
            $invoke->deadlineMs,
            $invoke->functionArn,
            $invoke->traceId,
            $invoke->clientContext,
            $invoke->cognitoIdentity,
            $invoke->tenantId,
            $env['AWS_LAMBDA_FUNCTION_NAME'] ?? '',
            $env['AWS_LAMBDA_FUNCTION_VERSION'] ?? '',
            (int) ($env['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'] ?? 0),
            $env['AWS_LAMBDA_LOG_GROUP_NAME'] ?? '',
            $env['AWS_LAMBDA_LOG_STREAM_NAME'] ?? '',
        );
    }

    /** A context for tests, as Bref's Context::fake(): five minutes left. */
    public static function fake(): self
    {
        return new self('fake-aws-request-id', (time() + 300) * 1000, 'fake-invoked-function-arn', 'fake-trace-id');
    }

    public function getRemainingTimeInMillis(): int
    {
        return max(0, $this->deadlineMs - ($this->nowMs)());
    }

    /** Bref's name for $requestId. */
    public function getAwsRequestId(): string
    {
        return $this->requestId;
    }

    /** Bref's name for $invokedFunctionArn. */
    public function getInvokedFunctionArn(): string
    {
        return $this->invokedFunctionArn;
    }

    /** The X-Ray trace header; '' when the invocation has none (Bref's getter returns a string). */
    public function getTraceId(): string
    {
        return $this->traceId ?? '';
    }

    /** The deadline, in Unix milliseconds. */
    public function getDeadlineMs(): int
    {
        return $this->deadlineMs;
    }

    /** @return array{awsRequestId: string, deadlineMs: int, invokedFunctionArn: string, traceId: string} Bref's keys */
    public function jsonSerialize(): array
    {
        return [
            'awsRequestId' => $this->requestId,
            'deadlineMs' => $this->deadlineMs,
            'invokedFunctionArn' => $this->invokedFunctionArn,
            'traceId' => $this->getTraceId(),
        ];
    }

    /** @return array<mixed>|null the client context, decoded; null when the invoke had none */
    public function clientContextData(): ?array
    {
        return $this->clientContext === null ? null : json_decode($this->clientContext, true, 512, JSON_THROW_ON_ERROR);
    }

    /** @return array<mixed>|null the Cognito identity, decoded; null when the invoke had none */
    public function identityData(): ?array
    {
        return $this->identity === null ? null : json_decode($this->identity, true, 512, JSON_THROW_ON_ERROR);
    }
}
