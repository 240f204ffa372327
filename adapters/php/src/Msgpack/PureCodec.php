<?php

/*
 * A small msgpack codec in plain PHP, for hosts without php-msgpack (and to
 * check the extension against).  It covers the whole format, but the adapter
 * only relies on it for flat frames, so it favours clarity over speed.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Msgpack;

final class PureCodec implements Codec
{
    /** Hostile frames could nest arrays millions deep; recursion that deep crashes PHP. */
    public const MAX_DEPTH = 512;

    public function name(): string
    {
        return 'pure';
    }

    public function pack(mixed $value): string
    {
        return match (true) {
            $value === null => "\xc0",
            $value === false => "\xc2",
            $value === true => "\xc3",
            is_int($value) => self::packInt($value),
            is_float($value) => "\xcb" . pack('E', $value),
            is_string($value) => Format::strHeader(strlen($value)) . $value,
            $value instanceof Bin => Format::binHeader(strlen($value->bytes)) . $value->bytes,
            is_array($value) => $this->packArray($value),
            default => throw new \InvalidArgumentException('cannot pack ' . get_debug_type($value) . ' as msgpack'),
        };
    }

    /** @param array<mixed> $value */
    private function packArray(array $value): string
    {
        if (array_is_list($value)) {
            $out = Format::arrayHeader(count($value));
            foreach ($value as $item) {
                $out .= $this->pack($item);
            }
            return $out;
        }
        $out = Format::mapHeader(count($value));
        foreach ($value as $k => $item) {
            $out .= $this->pack($k) . $this->pack($item);
        }
        return $out;
    }

    private static function packInt(int $v): string
    {
        if ($v >= 0) {
            return match (true) {
                $v <= 0x7f => chr($v),
                $v <= 0xff => "\xcc" . chr($v),
                $v <= 0xffff => "\xcd" . pack('n', $v),
                $v <= 0xffffffff => "\xce" . pack('N', $v),
                default => "\xcf" . pack('J', $v),
            };
        }
        return match (true) {
            $v >= -32 => chr($v & 0xff),
            $v >= -128 => "\xd0" . chr($v & 0xff),
            $v >= -32768 => "\xd1" . pack('n', $v & 0xffff),
            $v >= -2147483648 => "\xd2" . pack('N', $v & 0xffffffff),
            default => "\xd3" . pack('J', $v),
        };
    }

    public function unpackAt(string $data, int &$offset): mixed
    {
        return $this->decode($data, $offset, 0);
    }

    private function decode(string $data, int &$offset, int $depth): mixed
    {
        $b = ord(self::take($data, $offset, 1));
        if ($b <= 0x7f) {
            return $b;
        }
        if ($b >= 0xe0) {
            return $b - 0x100;
        }
        if ($b <= 0x8f) {
            return $this->decodeMap($data, $offset, $b & 0x0f, $depth);
        }
        if ($b <= 0x9f) {
            return $this->decodeArray($data, $offset, $b & 0x0f, $depth);
        }
        if ($b <= 0xbf) {
            return self::take($data, $offset, $b & 0x1f);
        }
        switch ($b) {
            case 0xc0:
                return null;
            case 0xc2:
                return false;
            case 0xc3:
                return true;
            case 0xc4:
            case 0xd9:
                return self::take($data, $offset, self::uint($data, $offset, 1));
            case 0xc5:
            case 0xda:
                return self::take($data, $offset, self::uint($data, $offset, 2));
            case 0xc6:
            case 0xdb:
                return self::take($data, $offset, self::uint($data, $offset, 4));
            case 0xc7:
            case 0xc8:
            case 0xc9:
                // ext: skipped (the protocol defines none; unknown keys may carry one)
                $len = self::uint($data, $offset, [0xc7 => 1, 0xc8 => 2, 0xc9 => 4][$b]);
                self::take($data, $offset, 1 + $len);
                return null;
            case 0xd4:
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                self::take($data, $offset, 1 + (1 << ($b - 0xd4)));
                return null;
            case 0xca:
                return unpack('G', self::take($data, $offset, 4))[1];
            case 0xcb:
                return unpack('E', self::take($data, $offset, 8))[1];
            case 0xcc:
                return self::uint($data, $offset, 1);
            case 0xcd:
                return self::uint($data, $offset, 2);
            case 0xce:
                return self::uint($data, $offset, 4);
            case 0xcf:
                $v = unpack('J', self::take($data, $offset, 8))[1];
                // Beyond PHP_INT_MAX: a decimal string, as php-msgpack does.
                return $v >= 0 ? $v : sprintf('%u', $v);
            case 0xd0:
                $v = self::uint($data, $offset, 1);
                return $v >= 0x80 ? $v - 0x100 : $v;
            case 0xd1:
                $v = self::uint($data, $offset, 2);
                return $v >= 0x8000 ? $v - 0x10000 : $v;
            case 0xd2:
                $v = self::uint($data, $offset, 4);
                return $v >= 0x80000000 ? $v - 0x100000000 : $v;
            case 0xd3:
                return unpack('J', self::take($data, $offset, 8))[1];
            case 0xdc:
                return $this->decodeArray($data, $offset, self::uint($data, $offset, 2), $depth);
            case 0xdd:
                return $this->decodeArray($data, $offset, self::uint($data, $offset, 4), $depth);
            case 0xde:
                return $this->decodeMap($data, $offset, self::uint($data, $offset, 2), $depth);
            case 0xdf:
                return $this->decodeMap($data, $offset, self::uint($data, $offset, 4), $depth);
            default:
                throw new DecodeError(sprintf('byte 0x%02x at offset %d is reserved in msgpack', $b, $offset - 1));
        }
    }

    /** @return list<mixed> */
    private function decodeArray(string $data, int &$offset, int $n, int $depth): array
    {
        self::checkDepth($depth);
        $out = [];
        for ($i = 0; $i < $n; $i++) {
            $out[] = $this->decode($data, $offset, $depth + 1);
        }
        return $out;
    }

    /** @return array<array-key, mixed> */
    private function decodeMap(string $data, int &$offset, int $n, int $depth): array
    {
        self::checkDepth($depth);
        $out = [];
        for ($i = 0; $i < $n; $i++) {
            $key = $this->decode($data, $offset, $depth + 1);
            $value = $this->decode($data, $offset, $depth + 1);
            // PHP array keys are int|string; other keys (only possible in maps the
            // adapter ignores) are folded to a string so decoding still succeeds.
            $out[is_int($key) || is_string($key) ? $key : json_encode($key)] = $value;
        }
        return $out;
    }

    private static function checkDepth(int $depth): void
    {
        if ($depth >= self::MAX_DEPTH) {
            throw new DecodeError('msgpack value nested deeper than ' . self::MAX_DEPTH . ' levels');
        }
    }

    private static function uint(string $data, int &$offset, int $size): int
    {
        $bytes = self::take($data, $offset, $size);
        return match ($size) {
            1 => ord($bytes),
            2 => unpack('n', $bytes)[1],
            default => unpack('N', $bytes)[1],
        };
    }

    private static function take(string $data, int &$offset, int $n): string
    {
        if ($n > strlen($data) - $offset) {
            throw new DecodeError(sprintf('msgpack value cut short: needs %d more bytes at offset %d, %d left', $n, $offset, strlen($data) - $offset));
        }
        $out = substr($data, $offset, $n);
        $offset += $n;
        return $out;
    }
}
