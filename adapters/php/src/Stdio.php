<?php

/*
 * Points fds 0 and 1 away from the frame channel before user code runs, so
 * echo, print, var_dump, php://stdout and php://stdin cannot reach it.
 *
 * Two ways, picked by DISPATCHER_PHP_STDIO (default: ffi when usable):
 * - "ffi": dup2() through FFI, as the Python and Rust adapters do.  The
 *   STDIN/STDOUT constants stay valid and follow the new targets.
 * - "reopen": fclose(STDIN/STDOUT) frees fds 0/1, and the next open() takes
 *   the lowest free descriptor (POSIX), so fopen() lands on fd 0 or 1.  The
 *   STDIN/STDOUT constants are then closed: using them throws a TypeError.
 * Either way the result is checked with fstat() before going on.
 */

declare(strict_types=1);

namespace Dispatcher\Worker;

final class Stdio
{
    private const LIBC = 'int dup2(int oldfd, int newfd); int open(const char *path, int flags); int close(int fd);';
    private const O_RDONLY = 0;
    private const O_WRONLY = 1; // the same on every Linux architecture Lambda runs

    /** @var array<int, resource> streams holding fds 0/1 in reopen mode; static so that garbage collection never closes them */
    private static array $held = [];

    private function __construct(public readonly string $mode, private readonly ?\FFI $libc)
    {
    }

    /** @throws \InvalidArgumentException on a bad DISPATCHER_PHP_STDIO */
    public static function fromEnvironment(): self
    {
        $choice = (string) getenv('DISPATCHER_PHP_STDIO');
        if (!in_array($choice, ['', 'ffi', 'reopen'], true)) {
            throw new \InvalidArgumentException(sprintf('DISPATCHER_PHP_STDIO must be "ffi", "reopen" or empty, not "%s"', $choice));
        }
        if ($choice !== 'reopen') {
            try {
                return new self('ffi', \FFI::cdef(self::LIBC));
            } catch (\Throwable $e) {
                if ($choice === 'ffi') {
                    throw new \InvalidArgumentException('DISPATCHER_PHP_STDIO=ffi but FFI is unusable (' . $e->getMessage() . '): install/enable ext-ffi or set DISPATCHER_PHP_STDIO=reopen');
                }
            }
        }
        return new self('reopen', null);
    }

    /** fd 0 reads /dev/null, fd 1 writes to stderr. */
    public function protect(): void
    {
        $this->redirect(0, '/dev/null');
        $this->redirectToStderr(1);
    }

    /** Points $fd (0 or 1) at the file $path (read for 0, write for 1). */
    public function redirect(int $fd, string $path): void
    {
        if ($this->libc !== null) {
            $new = $this->libc->open($path, $fd === 0 ? self::O_RDONLY : self::O_WRONLY);
            if ($new < 0 || $this->libc->dup2($new, $fd) < 0) {
                throw new \RuntimeException("cannot point fd $fd at $path");
            }
            $this->libc->close($new);
        } else {
            $this->free($fd);
            self::$held[$fd] = fopen($path, $fd === 0 ? 'rb' : 'wb');
        }
        $this->check($fd, stat($path), $path);
    }

    public function redirectToStderr(int $fd): void
    {
        if ($this->libc !== null) {
            if ($this->libc->dup2(2, $fd) < 0) {
                throw new \RuntimeException("cannot point fd $fd at stderr");
            }
        } else {
            $this->free($fd);
            self::$held[$fd] = fopen('php://fd/2', 'wb');
        }
        $this->check($fd, fstat(STDERR), 'stderr');
    }

    private function free(int $fd): void
    {
        if (isset(self::$held[$fd])) {
            fclose(self::$held[$fd]);
            unset(self::$held[$fd]);
            return;
        }
        $constant = $fd === 0 ? STDIN : STDOUT;
        if (is_resource($constant)) {
            fclose($constant);
        }
    }

    /** @param array<mixed>|false $expected */
    private function check(int $fd, array|false $expected, string $what): void
    {
        $probe = @fopen("php://fd/$fd", 'rb');
        $actual = $probe === false ? false : fstat($probe);
        if ($probe !== false) {
            fclose($probe);
        }
        if ($expected === false || $actual === false || $actual['ino'] !== $expected['ino'] || $actual['dev'] !== $expected['dev']) {
            throw new \RuntimeException(sprintf('fd %d does not point at %s after redirecting it (%s mode); set DISPATCHER_PHP_STDIO to the other mode', $fd, $what, $this->mode));
        }
    }
}
