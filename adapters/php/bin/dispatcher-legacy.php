<?php

/*
 * Legacy entry point: `php dispatcher-legacy.php path/to/script.php` serves an
 * unedited procedural script, forked fresh per invocation.  The include below
 * runs only in the forked child, at global scope, so the script's top-level
 * variables are true globals (`global $x` inside its functions works).
 */

require __DIR__ . '/../src/autoload.php';

require \Dispatcher\Worker\Legacy\LegacyServer::serveUntilChild($argv);
