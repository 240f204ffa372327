<?php

/*
 * What the adapter needs from a msgpack implementation: pack one value (Bin
 * objects as bin, PHP lists as arrays, other arrays as maps, strings as str)
 * and unpack one value at an offset.  Both implementations must give the same
 * bytes for every frame the adapter sends; tests/CodecTest.php checks it.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Msgpack;

interface Codec
{
    /** "ext" or "pure", for diagnostics. */
    public function name(): string;

    public function pack(mixed $value): string;

    /**
     * Decodes the value starting at $offset and moves $offset past it.
     * bin and str both come back as PHP strings; ext types come back as null.
     *
     * @throws DecodeError
     */
    public function unpackAt(string $data, int &$offset): mixed;
}
