<?php

/*
 * Bref's handler interface, declared only when Bref itself is not installed
 * (BrefCompat's autoloader requires this file for the name Bref\Event\Handler
 * after every other autoloader has had its turn).  Same method as Bref's, so
 * a handler class written for Bref loads and runs unchanged.
 */

declare(strict_types=1);

namespace Bref\Event;

use Bref\Context\Context;

interface Handler
{
    /** @return mixed the result, encoded as JSON */
    public function handle(mixed $event, Context $context);
}
