<?php

/*
 * The worker loop: open the frame channel, protect fds 0/1, load the user's
 * handler (failures -> init_error), send ready, then answer invokes until
 * shutdown or EOF.  A handler Throwable becomes an `error` frame named by its
 * class and the loop goes on; exit() or an uncatchable fatal error ends the
 * process, and the supervisor reports Runtime.ExitError with the stderr tail.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;


final class Worker
{
    /** JSON handler: fn (mixed $event, Context $context): mixed */
    public static function run(callable $handler): never
    {
        self::serve(static fn () => $handler);
    }

    /** Raw handler: fn (string $event, Context $context): string */
    public static function runRaw(callable $handler): never
    {
        self::serve(static fn () => new RawHandler($handler));
    }

    /**
     * The init hook: $init loads the user code and returns the handler (a
     * callable for JSON mode, or a RawHandler).  Whatever goes wrong inside
     * it, a Throwable, a fatal error or exit(), is reported as init_error.
     */
    public static function serve(callable $init): never
    {
        $session = Session::openOrExit();
        try {
            Stdio::fromEnvironment()->protect();
        } catch (\Throwable $e) {
            $session->failInit(new ErrorReport(LambdaError::INVALID_ENTRYPOINT, $e->getMessage()));
        }

        BrefCompat::register();
        Logging::configure();
        $loading = true;
        register_shutdown_function(static function () use (&$loading, $session): void {
            if ($loading) {
                $session->initError(ErrorReport::fromFatal(error_get_last(), LambdaError::IMPORT_MODULE)
                    ?? new ErrorReport(LambdaError::EXIT, 'the handler code called exit() while loading'));
            }
        });
        try {
            $loaded = $init();
            $handler = $loaded instanceof StreamingHandler ? null : self::handlerFrom($loaded);
        } catch (\Throwable $e) {
            $loading = false;
            $session->failInit(ErrorReport::fromThrowable($e));
        }
        $loading = false;
        self::flushUserBuffers(0);
        $session->ready();
        if ($handler === null) {
            self::streamLoop($session, $loaded);
        }
        self::loop($session, $handler);
    }

    /** Streaming handler: fn (mixed $event, Context $context, ResponseStream $out): void */
    public static function runStreaming(callable $handler): never
    {
        self::serve(static fn () => new StreamingHandler($handler));
    }

    /** The invoke loop of a StreamingHandler: its ResponseStream writes the frames. */
    private static function streamLoop(Session $session, StreamingHandler $streaming): never
    {
        $env = getenv();
        $features = explode(',', (string) ($env['DISPATCHER_FEATURES'] ?? ''));
        $canStream = in_array('stream', $features, true);
        while (true) {
            $invoke = $session->nextOrExit();
            $level = ob_get_level();
            $out = new ResponseStream($session, $invoke->id);
            $error = null;
            try {
                if (!$canStream) {
                    throw new LambdaError(LambdaError::MARSHAL, 'this handler streams (StreamingHandler), but the supervisor did not announce feature `stream` in DISPATCHER_FEATURES; run it under a supervisor that streams');
                }
                $event = $streaming->raw ? $invoke->payload : Json::decodeEvent($invoke->payload);
                ($streaming->handler)($event, Context::fromInvoke($invoke, $env), $out);
            } catch (\Throwable $e) {
                $error = ErrorReport::fromThrowable($e);
            }
            self::flushUserBuffers($level);
            if ($error === null) {
                $out->finish();
            } else {
                $session->error($invoke->id, $error); // ends an open stream, or answers the invoke
            }
        }
    }

    /** @return \Closure(string, Context): string */
    private static function handlerFrom(mixed $handler): \Closure
    {
        if ($handler instanceof RawHandler) {
            return $handler(...);
        }
        if (BrefCompat::isBrefShaped($handler)) {
            $call = BrefCompat::isHandler($handler) ? $handler->handle(...) : \Closure::fromCallable($handler);
            $bref = BrefCompat::contextMaker();
            return static fn (string $payload, Context $context): string => Json::encodeResult($call(Json::decodeEvent($payload), $bref($context)));
        }
        if (is_callable($handler)) {
            return static fn (string $payload, Context $context): string => Json::encodeResult($handler(Json::decodeEvent($payload), $context));
        }
        throw new LambdaError(LambdaError::HANDLER_NOT_FOUND, sprintf(
            'the handler must be a callable (or a %s, or a %s), got %s; a handler file ends with `return function (mixed $event, %s $context) { ... };`',
            RawHandler::class,
            BrefCompat::HANDLER,
            get_debug_type($handler),
            Context::class,
        ));
    }

    /** @param \Closure(string, Context): string $handler */
    private static function loop(Session $session, \Closure $handler): never
    {
        $env = getenv();
        while (true) {
            $invoke = $session->nextOrExit();
            Logging::setRequest($invoke->id);
            $level = ob_get_level();
            try {
                $body = $handler($invoke->payload, Context::fromInvoke($invoke, $env));
                $error = null;
            } catch (\Throwable $e) {
                $body = '';
                $error = ErrorReport::fromThrowable($e);
            }
            self::flushUserBuffers($level);
            if ($error !== null) {
                Logging::invokeError($error);
            }
            Logging::setRequest(null);
            if ($error === null) {
                $session->result($invoke->id, $body);
            } else {
                $session->error($invoke->id, $error);
            }
        }
    }

    /** Output buffers the handler left open are flushed (to fd 1, i.e. stderr) before the reply. */
    private static function flushUserBuffers(int $level): void
    {
        while (ob_get_level() > $level && @ob_end_flush()) {
        }
    }
}
