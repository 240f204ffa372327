<?php

/*
 * One decoded `invoke` frame: the event bytes and the Runtime API headers.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Protocol;

final class Invoke
{
    public function __construct(
        public readonly string $id,
        public readonly string $payload,
        public readonly int $deadlineMs,
        public readonly string $functionArn,
        public readonly ?string $traceId,
        public readonly ?string $clientContext,
        public readonly ?string $cognitoIdentity,
        public readonly ?string $tenantId,
    ) {
    }
}
