<?php

/*
 * The three files of one legacy invocation, in the temp dir: the event (the
 * child's fd 0), the output (the child's fd 1) and an error report the child
 * writes when the script dies of an exception or a fatal error.  Files rather
 * than pipes: the parent waits for the child without having to pump data,
 * and a script that never reads its input cannot block anyone.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Legacy;

use Dispatcher\Worker\ErrorReport;

final class Scratch
{
    private function __construct(
        public readonly string $eventPath,
        public readonly string $outputPath,
        public readonly string $reportPath,
    ) {
    }

    public static function create(string $event): self
    {
        $dir = sys_get_temp_dir();
        $paths = [];
        foreach (['event', 'output', 'report'] as $kind) {
            $path = tempnam($dir, "dispatcher-$kind-");
            if ($path === false) {
                throw new \RuntimeException("cannot create a temp file in $dir (set TMPDIR to a writable directory)");
            }
            $paths[] = $path;
        }
        if (file_put_contents($paths[0], $event) !== strlen($event)) {
            throw new \RuntimeException("cannot write the event to {$paths[0]} (disk full?)");
        }
        return new self(...$paths);
    }

    public function output(): string
    {
        return (string) file_get_contents($this->outputPath);
    }

    public function report(): ?ErrorReport
    {
        $raw = (string) file_get_contents($this->reportPath);
        if ($raw === '') {
            return null;
        }
        $doc = json_decode($raw, true);
        return is_array($doc)
            ? new ErrorReport((string) $doc['error_type'], (string) $doc['error_message'], array_map('strval', (array) $doc['stack_trace']))
            : null;
    }

    public static function writeReport(string $path, ErrorReport $report): void
    {
        file_put_contents($path, json_encode($report->fields(), JSON_INVALID_UTF8_SUBSTITUTE | JSON_UNESCAPED_SLASHES));
    }

    public function remove(): void
    {
        foreach ([$this->eventPath, $this->outputPath, $this->reportPath] as $path) {
            @unlink($path);
        }
    }
}
