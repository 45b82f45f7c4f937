<?php

/*
 * Loaded with `php -d extension=excimer -d auto_prepend_file=THIS script.php` by
 * bench/profile/profile.sh: samples the child's CPU time every 50 us with Excimer
 * (Debian: php-excimer) and writes the collapsed stacks to $POLYFORK_EXCIMER_OUT at exit.
 */

declare(strict_types=1);

$polyforkExcimer = new ExcimerProfiler();
$polyforkExcimer->setPeriod(0.00005);
$polyforkExcimer->setEventType(EXCIMER_CPU);
$polyforkExcimer->start();
register_shutdown_function(static function () use ($polyforkExcimer): void {
    $polyforkExcimer->stop();
    $out = getenv('POLYFORK_EXCIMER_OUT') ?: sys_get_temp_dir() . '/polyfork-excimer.txt';
    file_put_contents($out, $polyforkExcimer->getLog()->formatCollapsed());
});
