<?php

/*
 * msgpack headers and type families, shared by both codecs and the frame
 * decoder.  Headers are always the smallest that fits, as msgpack-python and
 * php-msgpack write them, so both codecs agree byte for byte.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Msgpack;

final class Format
{
    public const NIL = 'nil';
    public const BOOL = 'bool';
    public const INT = 'int';
    public const FLOAT = 'float';
    public const STR = 'str';
    public const BIN = 'bin';
    public const ARRAY = 'array';
    public const MAP = 'map';
    public const EXT = 'ext';
    public const INVALID = 'invalid';

    public static function binHeader(int $n): string
    {
        if ($n <= 0xff) {
            return "\xc4" . chr($n);
        }
        return $n <= 0xffff ? "\xc5" . pack('n', $n) : "\xc6" . pack('N', $n);
    }

    public static function strHeader(int $n): string
    {
        if ($n <= 31) {
            return chr(0xa0 | $n);
        }
        if ($n <= 0xff) {
            return "\xd9" . chr($n);
        }
        return $n <= 0xffff ? "\xda" . pack('n', $n) : "\xdb" . pack('N', $n);
    }

    public static function arrayHeader(int $n): string
    {
        if ($n <= 15) {
            return chr(0x90 | $n);
        }
        return $n <= 0xffff ? "\xdc" . pack('n', $n) : "\xdd" . pack('N', $n);
    }

    public static function mapHeader(int $n): string
    {
        if ($n <= 15) {
            return chr(0x80 | $n);
        }
        return $n <= 0xffff ? "\xde" . pack('n', $n) : "\xdf" . pack('N', $n);
    }

    /** The family of the value whose first byte is at $offset (INVALID past the end). */
    public static function familyAt(string $data, int $offset): string
    {
        if ($offset >= strlen($data)) {
            return self::INVALID;
        }
        $b = ord($data[$offset]);
        return match (true) {
            $b <= 0x7f, $b >= 0xe0, $b >= 0xcc && $b <= 0xd3 => self::INT,
            $b <= 0x8f, $b === 0xde, $b === 0xdf => self::MAP,
            $b <= 0x9f, $b === 0xdc, $b === 0xdd => self::ARRAY,
            $b <= 0xbf, $b >= 0xd9 && $b <= 0xdb => self::STR,
            $b === 0xc0 => self::NIL,
            $b === 0xc2, $b === 0xc3 => self::BOOL,
            $b >= 0xc4 && $b <= 0xc6 => self::BIN,
            $b === 0xca, $b === 0xcb => self::FLOAT,
            $b >= 0xc7 && $b <= 0xc9, $b >= 0xd4 && $b <= 0xd8 => self::EXT,
            default => self::INVALID, // 0xc1, never used
        };
    }

    /**
     * Reads a map header at $offset and returns its pair count, or null when
     * the value there is not a map (the offset is then unchanged).
     *
     * @throws DecodeError when the header itself is cut short
     */
    public static function mapHeaderAt(string $data, int &$offset): ?int
    {
        $b = ord($data[$offset] ?? "\xc1");
        if ($b >= 0x80 && $b <= 0x8f) {
            $offset++;
            return $b & 0x0f;
        }
        if ($b !== 0xde && $b !== 0xdf) {
            return null;
        }
        $size = $b === 0xde ? 2 : 4;
        if ($offset + 1 + $size > strlen($data)) {
            throw new DecodeError('map header cut short');
        }
        $n = unpack($size === 2 ? 'n' : 'N', $data, $offset + 1)[1];
        $offset += 1 + $size;
        return $n;
    }
}
