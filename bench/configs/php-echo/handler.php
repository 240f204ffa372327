<?php

/*
 * Raw echo for the benchmark: the event bytes come back unchanged.
 */

declare(strict_types=1);

use Dispatcher\Worker\Context;
use Dispatcher\Worker\RawHandler;

return new RawHandler(static fn (string $event, Context $context): string => $event);
