<?php

/*
 * Real worker processes over pipes (bin/dispatcher-worker.php and
 * bin/dispatcher-legacy.php), driven frame by frame as the supervisor does.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Tests;

use Dispatcher\Worker\Msgpack\Format;
use Dispatcher\Worker\Tests\support\WorkerProcess;
use PHPUnit\Framework\TestCase;

final class WorkerProcessTest extends TestCase
{
    private static function assertReady(WorkerProcess $w): void
    {
        $ready = $w->read();
        self::assertNotNull($ready, 'no ready frame; stderr: ' . $w->stderr());
        // The handler worker can stream; the legacy script server cannot.
        $features = str_contains($w->launcher, 'legacy') ? [] : ['stream'];
        self::assertSame(['type' => 'ready', 'protocol' => 1, 'features' => $features], array_diff_key($ready, ['@family' => 1]));
    }

    /** @return array<string, mixed> */
    private static function call(WorkerProcess $w, string $event, string $id = 'req-1', ?string $trace = null): array
    {
        $w->invoke($event, $id, $trace);
        $reply = $w->read();
        self::assertNotNull($reply, 'worker died; stderr: ' . $w->stderr());
        self::assertSame($id, $reply['id']);
        return $reply;
    }

    private static function assertResult(string $body, array $reply): void
    {
        self::assertSame('result', $reply['type'], json_encode($reply, JSON_INVALID_UTF8_SUBSTITUTE));
        self::assertSame(Format::BIN, $reply['@family']['payload'], 'payload must be msgpack bin');
        self::assertSame($body, $reply['payload']);
    }

    public function testInvokeResultAndShutdown(): void
    {
        $w = WorkerProcess::handler('behaviours.php');
        self::assertReady($w);
        self::assertResult('{"message":"Hello, Ada!"}', self::call($w, '{"name":"Ada"}'));
        self::assertResult('{"message":"Hello, world!"}', self::call($w, '{}', 'req-2'));
        $w->send(['type' => 'shutdown']);
        $this->assertSame(0, $w->finish());
        $this->assertSame('', $w->stderr(), 'no log line per invocation');
    }

    public function testHandlerExceptionIsAnErrorFrameAndTheWorkerGoesOn(): void
    {
        $w = WorkerProcess::handler('behaviours.php');
        self::assertReady($w);
        $err = self::call($w, '{"do":"boom"}');
        $this->assertSame('error', $err['type']);
        $this->assertSame('App\\Exceptions\\Boom', $err['error_type']);
        $this->assertSame('it went boom', $err['error_message']);
        $this->assertStringContainsString('behaviours.php:', $err['stack_trace'][0]);
        $this->assertContains('Caused by LogicException: root cause', $err['stack_trace']);
        $undefined = self::call($w, '{"do":"fatal"}', 'req-2');
        $this->assertSame('Error', $undefined['error_type']);
        $this->assertStringContainsString('undefined_function_called_here', $undefined['error_message']);
        self::assertResult('{"served":3}', self::call($w, '{"do":"served"}', 'req-3'));
    }

    public function testJsonFailuresHaveRuntimeTypes(): void
    {
        $w = WorkerProcess::handler('behaviours.php');
        self::assertReady($w);
        $bad = self::call($w, '{"name":');
        $this->assertSame('Runtime.UnmarshalError', $bad['error_type']);
        $nan = self::call($w, '{"do":"nan"}', 'req-2');
        $this->assertSame('Runtime.MarshalError', $nan['error_type']);
        $this->assertStringContainsString('float', $nan['error_message']);
        self::assertResult('{"do":"echo-back","v":[1,2.0,"é/"]}', self::call($w, '{"do":"echo-back","v":[1,2.0,"é/"]}', 'req-3'));
    }

    /** @return array<string, array{string}> */
    public function stdioModes(): array
    {
        return ['ffi' => ['ffi'], 'reopen' => ['reopen']];
    }

    /** @dataProvider stdioModes */
    public function testUserOutputGoesToStderrNotIntoTheFrames(string $mode): void
    {
        $w = WorkerProcess::handler('behaviours.php', ['DISPATCHER_PHP_STDIO' => $mode]);
        self::assertReady($w);
        $reply = self::call($w, '{"do":"echo"}');
        if ($mode === 'ffi') {
            self::assertResult('{"echoed":true}', $reply);
        } else {
            // Documented: in reopen mode the STDOUT constant is closed.
            $this->assertSame('TypeError', $reply['error_type']);
        }
        self::assertResult('{"stdin":""}', self::call($w, '{"do":"stdin"}', 'req-2'));
        self::assertResult('{"message":"Hello, Bo!"}', self::call($w, '{"name":"Bo"}', 'req-3'));
        $this->assertSame(0, $w->finish());
        $stderr = $w->stderr();
        foreach (['echo line', 'print line', 'printf line', 'string(8) "var_dump"', 'php://stdout line'] as $line) {
            $this->assertStringContainsString($line, $stderr);
        }
        if ($mode === 'ffi') {
            $this->assertStringContainsString('STDOUT constant line', $stderr);
            $this->assertStringContainsString('left in an open buffer', $stderr);
        }
    }

    public function testContextAndTraceId(): void
    {
        $w = WorkerProcess::handler('behaviours.php', ['AWS_LAMBDA_FUNCTION_NAME' => 'fn', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE' => '512']);
        self::assertReady($w);
        $w->invoke('{"do":"context"}', 'ctx-1', 'Root=1-abc', '{"custom":{"k":"v"}}');
        $ctx = json_decode($w->read()['payload'], true);
        $this->assertSame('ctx-1', $ctx['requestId']);
        $this->assertSame('Root=1-abc', $ctx['traceId']);
        $this->assertSame('Root=1-abc', $ctx['env']);
        $this->assertSame('Root=1-abc', $ctx['server']);
        $this->assertSame(['custom' => ['k' => 'v']], $ctx['clientContext']);
        $this->assertSame('fn', $ctx['functionName']);
        $this->assertSame(512, $ctx['memoryLimitInMb']);
        $this->assertGreaterThan(50_000, $ctx['remaining']);
        $this->assertLessThanOrEqual(60_000, $ctx['remaining']);
        $w->invoke('{"do":"context"}', 'ctx-2');
        $ctx = json_decode($w->read()['payload'], true);
        $this->assertNull($ctx['traceId']);
        $this->assertFalse($ctx['env'], '_X_AMZN_TRACE_ID must be unset when the invoke has no trace id');
        $this->assertNull($ctx['server']);
    }

    public function testRawHandlerIsByteForByte(): void
    {
        $w = WorkerProcess::handler('raw_echo.php');
        self::assertReady($w);
        $bytes = random_bytes(300_000) . "\xff\xfe not json";
        self::assertResult($bytes, self::call($w, $bytes));
    }

    /** @return array<string, array{list<string>, array<string, string>, string, string}> */
    public function initFailures(): array
    {
        $f = WorkerProcess::FIXTURES;
        return [
            'exception' => [[$f . 'init_throws.php'], [], 'App\\Boot\\ConfigMissing', 'DATABASE_URL is not set'],
            'fatal' => [[$f . 'init_fatal.php'], [], 'Runtime.ImportModuleError', 'Cannot redeclare'],
            'parse error' => [[$f . 'init_parse_error.php'], [], 'ParseError', 'syntax error'],
            'no return' => [[$f . 'not_callable.php'], [], 'Runtime.HandlerNotFound', 'got int'],
            'exit' => [[$f . 'init_exit.php'], [], 'Runtime.ExitError', 'exit()'],
            'missing file' => [[$f . 'nope.php'], [], 'Runtime.ImportModuleError', 'not found'],
            'no argument, no _HANDLER' => [[], ['_HANDLER' => ''], 'Runtime.InvalidEntrypoint', '$_HANDLER, which is not set'],
            '_HANDLER names a missing file' => [[], ['_HANDLER' => $f . 'nope.php'], 'Runtime.ImportModuleError', '(from _HANDLER) not found'],
            'bad codec' => [[$f . 'behaviours.php'], ['DISPATCHER_PHP_CODEC' => 'fast'], 'Runtime.InvalidEntrypoint', 'DISPATCHER_PHP_CODEC'],
            'bad max frame' => [[$f . 'behaviours.php'], ['DISPATCHER_MAX_FRAME' => '16MB'], 'Runtime.InvalidEntrypoint', 'DISPATCHER_MAX_FRAME'],
        ];
    }

    /** @dataProvider initFailures */
    public function testInitFailuresAreInitErrors(array $args, array $env, string $type, string $message): void
    {
        $w = new WorkerProcess('dispatcher-worker.php', $args, $env);
        $frame = $w->read();
        $this->assertNotNull($frame, 'no frame; stderr: ' . $w->stderr());
        $this->assertSame('init_error', $frame['type']);
        $this->assertSame($type, $frame['error_type']);
        $this->assertStringContainsString($message, $frame['error_message']);
        $this->assertNull($w->read(), 'nothing after init_error');
        $status = $w->finish();
        if ($type !== 'Runtime.ExitError') { // exit(0) while loading keeps its status
            $this->assertNotSame(0, $status);
        }
    }

    public function testCrashEndsTheProcess(): void
    {
        $w = WorkerProcess::handler('behaviours.php');
        self::assertReady($w);
        $w->invoke('{"do":"exit"}');
        $this->assertNull($w->read());
        $this->assertSame(3, $w->finish());
        $oom = WorkerProcess::handler('behaviours.php');
        self::assertReady($oom);
        $oom->invoke('{"do":"oom"}');
        $this->assertNull($oom->read());
        $this->assertSame(255, $oom->finish());
        $this->assertStringContainsString('Allowed memory size', $oom->stderr());
    }

    /** @return array<string, array{string, array<string, string>}> */
    public function malformed(): array
    {
        return [
            'reserved byte' => ["\x00\x00\x00\x01\xc1", []],
            'empty frame' => ["\x00\x00\x00\x00", []],
            'too large' => ["\x00\x00\x01\x00", ['DISPATCHER_MAX_FRAME' => '255']],
            'not a map' => ["\x00\x00\x00\x01\x90", []],
            'cut short' => ["\x00\x00\x00\x09\x81\xa4type", []],
        ];
    }

    /** @dataProvider malformed */
    public function testMalformedFrameExits70(string $bytes, array $env): void
    {
        $w = WorkerProcess::handler('behaviours.php', $env);
        self::assertReady($w);
        $w->sendRaw($bytes);
        $this->assertSame(70, $w->finish());
        $this->assertStringContainsString('malformed frame from the supervisor', $w->stderr());
    }

    public function testResponseOverMaxFrameIsAnError(): void
    {
        $w = WorkerProcess::handler('behaviours.php', ['DISPATCHER_MAX_FRAME' => '2000']);
        self::assertReady($w);
        $reply = self::call($w, '{"do":"big","size":2000}');
        $this->assertSame('Function.ResponseSizeTooLarge', $reply['error_type']);
    }

    public function testLegacyScriptIsFreshForEveryInvocation(): void
    {
        $w = new WorkerProcess('dispatcher-legacy.php', [WorkerProcess::FIXTURES . 'legacy_behaviours.php']);
        self::assertReady($w);
        for ($i = 1; $i <= 3; $i++) {
            $reply = self::call($w, '{}', "id-$i", $i === 2 ? 'Root=1-legacy' : null);
            self::assertSame('result', $reply['type'], json_encode($reply));
            $doc = json_decode($reply['payload'], true);
            $this->assertSame(1, $doc['hits'], 'globals leaked between invocations');
            $this->assertSame("id-$i", $doc['id']);
            $this->assertSame($i === 2 ? 'Root=1-legacy' : false, $doc['trace']);
            $this->assertSame([realpath(WorkerProcess::FIXTURES . 'legacy_behaviours.php')], $doc['argv']);
        }
        self::assertResult('"plain <b>text</b>\n"', self::call($w, '{"do":"text"}'));
        $silent = self::call($w, '{"do":"silent-fail"}');
        $this->assertSame('Runtime.ExitError', $silent['error_type']);
        $this->assertStringContainsString('status 4', $silent['error_message']);
        $thrown = self::call($w, '{"do":"throw"}');
        $this->assertSame('DomainException', $thrown['error_type']);
        $this->assertSame('legacy boom', $thrown['error_message']);
        $killed = self::call($w, '{"do":"kill"}');
        $this->assertStringContainsString('SIGKILL', $killed['error_message']);
        self::assertResult('{"via":"STDOUT"}', self::call($w, '{"do":"stdout"}'));
        $this->assertSame(1, json_decode(self::call($w, '{}')['payload'], true)['hits']);
        $this->assertSame(0, $w->finish());
        $this->assertStringContainsString('Uncaught DomainException: legacy boom', $w->stderr());
    }

    public function testLegacyInReopenMode(): void
    {
        $w = new WorkerProcess('dispatcher-legacy.php', [WorkerProcess::FIXTURES . 'legacy_behaviours.php'], ['DISPATCHER_PHP_STDIO' => 'reopen']);
        self::assertReady($w);
        for ($i = 1; $i <= 3; $i++) {
            $this->assertSame(1, json_decode(self::call($w, '{}')['payload'], true)['hits']);
        }
        self::assertResult('"plain <b>text</b>\n"', self::call($w, '{"do":"text"}'));
        // The STDOUT constant is closed in this mode (documented).
        $this->assertSame('TypeError', self::call($w, '{"do":"stdout"}')['error_type']);
    }

    public function testLegacySyntaxErrorIsAnInitError(): void
    {
        $w = new WorkerProcess('dispatcher-legacy.php', [WorkerProcess::FIXTURES . 'init_parse_error.php']);
        $frame = $w->read();
        $this->assertSame('init_error', $frame['type']);
        $this->assertSame('ParseError', $frame['error_type']);
        $this->assertStringContainsString('syntax error', $frame['error_message']);
    }

    public function testBrefFunctionHandlerGetsBrefsContextApiAndVariables(): void
    {
        $w = WorkerProcess::handler('bref_closure.php');
        self::assertReady($w);
        $reply = self::call($w, '{}', 'req-bref', 'Root=1-bref');
        $this->assertSame('result', $reply['type'], json_encode($reply) . $w->stderr());
        $got = json_decode($reply['payload'], true);
        $this->assertSame('Dispatcher\\Worker\\Context', $got['class'], 'Bref\\Context\\Context is the adapter\'s class when Bref is absent');
        $this->assertSame(['req-bref', 'arn:aws:lambda:us-east-1:123456789012:function:test', 'Root=1-bref', true],
            [$got['awsRequestId'], $got['invokedFunctionArn'], $got['traceId'], $got['remainingPositive']]);
        $this->assertSame(['req-bref', 'req-bref'], [$got['requestIdEnv'], $got['requestIdServer']]);
        $this->assertSame(['awsRequestId' => 'req-bref', 'deadlineMs' => $got['deadlineMs'],
            'invokedFunctionArn' => 'arn:aws:lambda:us-east-1:123456789012:function:test', 'traceId' => 'Root=1-bref'], $got['invocationContext']);
        $second = json_decode(self::call($w, '{}', 'req-2')['payload'], true);
        $this->assertSame(['req-2', '', 'req-2'], [$second['awsRequestId'], $second['traceId'], $second['requestIdEnv']]);
        $this->assertSame(0, $w->finish());
    }

    public function testBrefHandlerClassIsServed(): void
    {
        $w = WorkerProcess::handler('bref_handler.php');
        self::assertReady($w);
        self::assertResult('{"greeting":"Hello, Ada!","calls":1,"id":"req-1"}', self::call($w, '{"name":"Ada"}'));
        self::assertResult('{"greeting":"Hello, world!","calls":2,"id":"req-2"}', self::call($w, '{}', 'req-2'));
        $this->assertSame(0, $w->finish());
    }

    public function testWithBrefInstalledAHandlerTypedWithItsContextGetsARealOne(): void
    {
        $w = WorkerProcess::handler('bref_installed.php');
        self::assertReady($w);
        $reply = self::call($w, '{}', 'req-real', 'Root=1-real');
        $this->assertSame('result', $reply['type'], json_encode($reply) . $w->stderr());
        $got = json_decode($reply['payload'], true);
        $this->assertSame(['Bref\\Context\\Context', false, 'req-real', 'Root=1-real'],
            [$got['class'], $got['isAdapters'], $got['awsRequestId'], $got['traceId']]);
        $this->assertTrue($got['invocationContext']['standIn'], 'LAMBDA_INVOCATION_CONTEXT is the Bref context\'s own JSON');
        $this->assertSame(0, $w->finish());
    }

    public function testWithoutAnArgumentTheHandlerFileIsHandlerAsInBref(): void
    {
        $w = new WorkerProcess('dispatcher-worker.php', [], ['_HANDLER' => WorkerProcess::FIXTURES . 'bref_handler.php']);
        self::assertReady($w);
        self::assertResult('{"greeting":"Hello, Ada!","calls":1,"id":"req-1"}', self::call($w, '{"name":"Ada"}'));
        $this->assertSame(0, $w->finish());
        // an argument wins over _HANDLER
        $arg = new WorkerProcess('dispatcher-worker.php', [WorkerProcess::FIXTURES . 'behaviours.php'], ['_HANDLER' => 'nope.php']);
        self::assertReady($arg);
        self::assertResult('{"message":"Hello, Ada!"}', self::call($arg, '{"name":"Ada"}'));
        $this->assertSame(0, $arg->finish());
    }
}
