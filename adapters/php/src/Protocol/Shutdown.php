<?php

/*
 * A decoded `shutdown` frame: the worker should exit 0.
 */

declare(strict_types=1);

namespace Dispatcher\Worker\Protocol;

final class Shutdown
{
}
