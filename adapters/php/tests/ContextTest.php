<?php

/*
 * The Context's own API and Bref's getters on it (pure: no worker process).
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Tests;

use Dispatcher\Worker\Context;
use PHPUnit\Framework\TestCase;

final class ContextTest extends TestCase
{
    public function testBrefGettersReadTheInvocation(): void
    {
        $c = new Context('req-9', 1_000_500, 'arn:aws:lambda:eu-west-1:1:function:f', 'Root=1-abc', nowMs: static fn (): int => 1_000_000);
        $this->assertSame('req-9', $c->getAwsRequestId());
        $this->assertSame('arn:aws:lambda:eu-west-1:1:function:f', $c->getInvokedFunctionArn());
        $this->assertSame('Root=1-abc', $c->getTraceId());
        $this->assertSame(1_000_500, $c->getDeadlineMs());
        $this->assertSame(500, $c->getRemainingTimeInMillis());
        $this->assertSame(
            '{"awsRequestId":"req-9","deadlineMs":1000500,"invokedFunctionArn":"arn:aws:lambda:eu-west-1:1:function:f","traceId":"Root=1-abc"}',
            json_encode($c, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES),
        );
    }

    public function testNoTraceIsAnEmptyStringForBrefAndNullForTheProperty(): void
    {
        $c = new Context('r', 0, 'arn', null);
        $this->assertSame('', $c->getTraceId());
        $this->assertNull($c->traceId);
        $this->assertSame(0, $c->getRemainingTimeInMillis(), 'a past deadline leaves 0 ms, not a negative number');
        $this->assertSame('', $c->functionName);
        $this->assertNull($c->tenantId);
    }

    public function testFakeHasFiveMinutesLeftLikeBrefs(): void
    {
        $c = Context::fake();
        $this->assertSame('fake-aws-request-id', $c->getAwsRequestId());
        $this->assertSame('fake-trace-id', $c->getTraceId());
        $left = $c->getRemainingTimeInMillis();
        $this->assertGreaterThan(290_000, $left);
        $this->assertLessThanOrEqual(300_000, $left);
    }
}
