<?php

/*
 * The PHP hello handler: {"name":"Ada"} -> {"message":"Hello, Ada!"}.
 * The file returns the handler; bin/dispatcher-worker.php loads it once and
 * calls it for every invocation.
 */

declare(strict_types=1);

use Dispatcher\Worker\Context;

return static function (mixed $event, Context $context): array {
    $name = is_array($event) && is_string($event['name'] ?? null) ? $event['name'] : 'world';
    return ['message' => "Hello, $name!"];
};
