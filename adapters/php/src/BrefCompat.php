<?php

/*
 * Handlers written for Bref run unchanged.
 *
 * - Bref not installed: the names Bref\Context\Context (an alias of this
 *   adapter's Context, which has Bref's getters) and Bref\Event\Handler (an
 *   interface with Bref's method) are autoloaded from here.  The autoloader
 *   is appended, so Composer's (which vendor/autoload.php prepends) and any
 *   other registered before it find the real Bref first.
 * - Bref installed: its Context is a final class of its own, so a handler
 *   that asks for it (a Bref\Event\Handler, or a callable whose second
 *   parameter is typed Bref\Context\Context) gets a real one, built from the
 *   invocation.
 * - For Bref-shaped handlers, LAMBDA_REQUEST_ID and LAMBDA_INVOCATION_CONTEXT
 *   are set for each invocation, as Bref's runtime sets them.  Other handlers
 *   do not pay for them.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

final class BrefCompat
{
    public const CONTEXT = 'Bref\\Context\\Context';
    public const HANDLER = 'Bref\\Event\\Handler';

    private static bool $registered = false;

    public static function register(): void
    {
        if (self::$registered) {
            return;
        }
        self::$registered = true;
        spl_autoload_register(static function (string $class): void {
            if (strcasecmp($class, self::CONTEXT) === 0) {
                class_alias(Context::class, self::CONTEXT);
            } elseif (strcasecmp($class, self::HANDLER) === 0) {
                require __DIR__ . '/BrefCompat/Handler.php';
            }
        });
    }

    /** True for an object implementing Bref's handler interface (checked without autoloading it). */
    public static function isHandler(mixed $handler): bool
    {
        return is_object($handler) && interface_exists(self::HANDLER, false) && is_a($handler, self::HANDLER);
    }

    /** Whether $handler is written for Bref: a Bref\Event\Handler, or a callable typing its context as Bref's. */
    public static function isBrefShaped(mixed $handler): bool
    {
        if (self::isHandler($handler)) {
            return true;
        }
        if (!is_callable($handler)) {
            return false;
        }
        $parameters = (new \ReflectionFunction(\Closure::fromCallable($handler)))->getParameters();
        $type = isset($parameters[1]) ? $parameters[1]->getType() : null;
        $names = match (true) {
            $type instanceof \ReflectionNamedType => [$type->getName()],
            $type instanceof \ReflectionUnionType => array_map(static fn ($t) => (string) $t, $type->getTypes()),
            default => [],
        };
        foreach ($names as $name) {
            if (strcasecmp(ltrim($name, '?\\'), self::CONTEXT) === 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * What a Bref-shaped handler gets as its context, made from this
     * adapter's: the same object while Bref\Context\Context is our alias, a
     * real Bref Context when Bref is installed.  Also sets Bref's two
     * per-invocation variables.
     *
     * @return \Closure(Context): object
     */
    public static function contextMaker(): \Closure
    {
        class_exists(self::CONTEXT); // autoload: Bref's own class, or our alias
        $ours = is_a(Context::class, self::CONTEXT, true);
        $class = self::CONTEXT;
        return static function (Context $context) use ($ours, $class): object {
            $bref = $ours ? $context : new $class(
                $context->requestId,
                $context->deadlineMs,
                $context->invokedFunctionArn,
                $context->getTraceId(),
            );
            self::setEnv('LAMBDA_REQUEST_ID', $context->requestId);
            self::setEnv('LAMBDA_INVOCATION_CONTEXT', json_encode($bref, JSON_THROW_ON_ERROR));
            return $bref;
        };
    }

    private static function setEnv(string $name, string $value): void
    {
        $_SERVER[$name] = $_ENV[$name] = $value;
        putenv("$name=$value");
    }
}
