<?php

/*
 * msgpack through the php-msgpack extension.  The extension packs every PHP
 * string as str, so values holding Bin objects are assembled here around it:
 * headers by hand, everything else by msgpack_pack().
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Msgpack;

final class ExtCodec implements Codec
{
    private \MessagePackUnpacker $unpacker;

    public function __construct()
    {
        if (!extension_loaded('msgpack')) {
            throw new \RuntimeException('the msgpack extension is not loaded: install php-msgpack, or set DISPATCHER_PHP_CODEC=pure');
        }
        // Same bytes as the pure codec and msgpack-python: str8 for 32..255-byte strings.
        ini_set('msgpack.use_str8_serialization', '1');
        // Errors become DecodeError; the extension must not print warnings of its own.
        ini_set('msgpack.error_display', '0');
        // php_only=false: never turn maps into PHP objects while decoding untrusted bytes.
        $this->unpacker = new \MessagePackUnpacker(false);
    }

    public function name(): string
    {
        return 'ext';
    }

    public function pack(mixed $value): string
    {
        if ($value instanceof Bin) {
            return Format::binHeader(strlen($value->bytes)) . $value->bytes;
        }
        if (!is_array($value) || !self::holdsBin($value)) {
            if (is_object($value) || is_resource($value)) {
                throw new \InvalidArgumentException('cannot pack ' . get_debug_type($value) . ' as msgpack');
            }
            return msgpack_pack($value);
        }
        if (array_is_list($value)) {
            $out = Format::arrayHeader(count($value));
            foreach ($value as $item) {
                $out .= $this->pack($item);
            }
            return $out;
        }
        $out = Format::mapHeader(count($value));
        foreach ($value as $k => $item) {
            $out .= msgpack_pack($k) . $this->pack($item);
        }
        return $out;
    }

    /** @param array<mixed> $value */
    private static function holdsBin(array $value): bool
    {
        foreach ($value as $item) {
            if ($item instanceof Bin || (is_array($item) && self::holdsBin($item))) {
                return true;
            }
        }
        return false;
    }

    public function unpackAt(string $data, int &$offset): mixed
    {
        $start = $offset;
        $this->unpacker->reset();
        if ($offset >= strlen($data) || !$this->unpacker->execute($data, $offset)) {
            $offset = $start;
            throw new DecodeError(sprintf('no complete msgpack value at offset %d (reserved byte or value cut short)', $start));
        }
        return $this->unpacker->data();
    }
}
