<?php
// Debian's php-symfony-lock and this package's class: no Composer needed.
require_once '/usr/share/php/Symfony/Component/Lock/autoload.php';
require_once __DIR__ . '/../src/ExakatLockStore.php';
