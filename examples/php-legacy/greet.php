<?php
/*
 * greet.php -- the kind of script that has been running behind Apache since
 * 2009.  It is served UNEDITED by adapters/php/bin/dispatcher-legacy.php:
 * it reads its request from php://stdin, keeps state in globals, declares a
 * function, echoes its answer and calls exit().
 */

$config = array('greeting' => 'Hello', 'default_name' => 'world');
$calls = 0;

function greet($name)
{
    global $config, $calls;
    $calls++;
    return $config['greeting'] . ', ' . $name . '!';
}

$request = json_decode(file_get_contents('php://stdin'), true);
$name = isset($request['name']) ? $request['name'] : $config['default_name'];

header('Content-Type: application/json');
echo json_encode(array('message' => greet($name), 'calls' => $calls));
exit(0);
