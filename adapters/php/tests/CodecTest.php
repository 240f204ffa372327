<?php

/*
 * The msgpack codecs: exact bytes, round trips, and ext == pure for every
 * kind of frame the adapter sends.  Codec selection from the environment.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Tests;

use Dispatcher\Worker\ErrorReport;
use Dispatcher\Worker\Msgpack\Bin;
use Dispatcher\Worker\Msgpack\Codecs;
use Dispatcher\Worker\Msgpack\DecodeError;
use Dispatcher\Worker\Msgpack\ExtCodec;
use Dispatcher\Worker\Msgpack\PureCodec;
use Dispatcher\Worker\Protocol\Messages;
use PHPUnit\Framework\TestCase;

final class CodecTest extends TestCase
{
    /** @return array<string, array{array<string, mixed>}> */
    public function sentFrames(): array
    {
        $lines = fn (int $n, int $len) => array_map(static fn ($i) => str_pad("#$i ", $len, 'x'), range(1, $n));
        return [
            'ready' => [Messages::ready()],
            'result empty' => [Messages::result('id', '')],
            'result bin8 edge' => [Messages::result('id', str_repeat('a', 255))],
            'result bin16' => [Messages::result(str_repeat('i', 40), str_repeat("\xff", 256))],
            'result bin32' => [Messages::result('id', str_repeat('{}', 40000))],
            'result unicode' => [Messages::result('id', '{"m":"Zoë 🚀"}')],
            'error empty stack' => [Messages::error('id', new ErrorReport('App\\Exceptions\\Boom', 'boom'))],
            'error str8/16/32' => [Messages::error('id', new ErrorReport('T', str_repeat('m', 70000), [...$lines(20, 31), ...$lines(3, 200), str_repeat('z', 300)]))],
            'error invalid utf8' => [Messages::error('id', new ErrorReport('E', "bad \xc3\x28", ["\xff"]))],
            'init_error' => [Messages::initError(new ErrorReport('ParseError', 'syntax error', ['at x.php:3']))],
            'ints' => [['type' => 'x', 'a' => [0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, PHP_INT_MAX, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, PHP_INT_MIN]]],
            'map16' => [array_combine(array_map(static fn ($i) => "k$i", range(1, 20)), range(1, 20))],
        ];
    }

    /** @dataProvider sentFrames */
    public function testExtAndPureGiveTheSameBytes(array $message): void
    {
        if (!extension_loaded('msgpack')) {
            $this->markTestSkipped('php-msgpack is not loaded: install php-msgpack to compare the codecs');
        }
        $this->assertSame(bin2hex((new PureCodec())->pack($message)), bin2hex((new ExtCodec())->pack($message)));
    }

    /** @dataProvider sentFrames */
    public function testFramesRoundTrip(array $message): void
    {
        $codec = Codecs::fromEnvironment();
        $bytes = $codec->pack($message);
        $offset = 0;
        $decoded = $codec->unpackAt($bytes, $offset);
        $this->assertSame(strlen($bytes), $offset);
        array_walk_recursive($message, static function (&$v) {
            $v = $v instanceof Bin ? $v->bytes : $v;
        });
        $this->assertSame($message, $decoded);
    }

    public function testKnownBytes(): void
    {
        $codec = Codecs::fromEnvironment();
        $this->assertSame('83a474797065a57265616479a870726f746f636f6c01a86665617475726573' . '90', bin2hex($codec->pack(Messages::ready([]))));
        $this->assertSame('c403616263', bin2hex($codec->pack(new Bin('abc'))));
        $this->assertSame('d920' . str_repeat('61', 32), bin2hex($codec->pack(str_repeat('a', 32))));
        $this->assertSame('cf0000018bcfe5687b', bin2hex($codec->pack(1700000000123)));
    }

    /** @return array<string, array{string}> */
    public function brokenValues(): array
    {
        return [
            'reserved byte' => ["\xc1"],
            'truncated str' => ["\xa5ab"],
            'truncated bin32 header' => ["\xc6\x00\x00"],
            'map missing value' => ["\x81\xa1a"],
            'empty input' => [''],
        ];
    }

    /** @dataProvider brokenValues */
    public function testBrokenValuesAreDecodeErrors(string $bytes): void
    {
        $this->expectException(DecodeError::class);
        $offset = 0;
        Codecs::fromEnvironment()->unpackAt($bytes, $offset);
    }

    public function testDeepNestingIsRefusedByThePureCodec(): void
    {
        $this->expectException(DecodeError::class);
        $offset = 0;
        (new PureCodec())->unpackAt(str_repeat("\x91", 100000) . "\xc0", $offset);
    }

    public function testSelection(): void
    {
        $this->assertSame('pure', Codecs::select('pure')->name());
        $this->assertSame(extension_loaded('msgpack') ? 'ext' : 'pure', Codecs::select(null)->name());
        $wanted = getenv('DISPATCHER_PHP_CODEC');
        if ($wanted !== false && $wanted !== '') {
            $this->assertSame($wanted, Codecs::fromEnvironment()->name(), 'this run was asked to use DISPATCHER_PHP_CODEC=' . $wanted);
        }
        $this->expectExceptionMessage('DISPATCHER_PHP_CODEC must be "ext", "pure" or empty, not "fast"');
        Codecs::select('fast');
    }
}
