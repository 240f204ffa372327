<?php

/*
 * Picks the codec from DISPATCHER_PHP_CODEC: "ext" (php-msgpack), "pure", or
 * unset/empty for ext when the extension is loaded and pure otherwise.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Msgpack;

final class Codecs
{
    /** @throws \InvalidArgumentException naming the bad setting and the fix */
    public static function select(?string $choice): Codec
    {
        $choice = $choice === null ? '' : trim($choice);
        return match ($choice) {
            '' => extension_loaded('msgpack') ? new ExtCodec() : new PureCodec(),
            'pure' => new PureCodec(),
            'ext' => extension_loaded('msgpack')
                ? new ExtCodec()
                : throw new \InvalidArgumentException('DISPATCHER_PHP_CODEC=ext but the msgpack extension is not loaded: install php-msgpack, or set DISPATCHER_PHP_CODEC=pure'),
            default => throw new \InvalidArgumentException(sprintf('DISPATCHER_PHP_CODEC must be "ext", "pure" or empty, not "%s"', $choice)),
        };
    }

    public static function fromEnvironment(): Codec
    {
        $v = getenv('DISPATCHER_PHP_CODEC');
        return self::select($v === false ? null : $v);
    }
}
