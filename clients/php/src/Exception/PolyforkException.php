<?php

declare(strict_types=1);

namespace Polyfork\Exception;

/**
 * Marker implemented by every exception this library throws, so callers can catch them all
 * with one `catch (PolyforkException $e)`.
 */
interface PolyforkException extends \Throwable
{
}
