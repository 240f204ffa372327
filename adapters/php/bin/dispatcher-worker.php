<?php

/*
 * Worker entry point: `php dispatcher-worker.php path/to/handler.php`, where
 * handler.php returns a callable `fn (mixed $event, Context $context)` (JSON
 * mode) or a `new RawHandler(fn (string $event, Context $context): string)`.
 */

declare(strict_types=1);

require __DIR__ . '/../src/autoload.php';

\Dispatcher\Worker\Worker::serve(\Dispatcher\Worker\HandlerFile::loader($argv));
