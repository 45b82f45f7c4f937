<?php
// The templating stage of examples/polyglot: a title and the statistics in, a Markdown
// report out, with nothing but PHP.
declare(strict_types=1);

require dirname(__DIR__, 2) . '/clients/php/autoload.php';

use Polyfork\Polyfork;

/** Escapes text for Markdown, so that a title stays text: no markup, no HTML, no links. */
function md(string $text): string
{
    return preg_replace('/[\\\\`*_{}\[\]()<>#+\-.!|&~]/', '\\\\$0', $text);
}

function num(float $x): string
{
    return rtrim(rtrim(number_format($x, 2, '.', ''), '0'), '.');
}

Polyfork::handle('render', function (string $title, array $stats): string {
    $rows = [
        'values' => (string) $stats['n'],
        'mean' => num($stats['mean']),
        'standard deviation' => num($stats['std']),
        'minimum' => num($stats['min']),
        'median' => num($stats['median']),
        '90th percentile' => num($stats['p90']),
        'maximum' => num($stats['max']),
    ];
    $out = '# ' . md($title) . "\n\n| statistic | value |\n|---|--:|\n";
    foreach ($rows as $name => $value) {
        $out .= "| $name | $value |\n";
    }

    $counts = $stats['histogram']['counts'];
    $edges = $stats['histogram']['edges'];
    $widest = max(1, max($counts));
    $out .= "\n## Distribution\n\n| from | to | count | |\n|--:|--:|--:|---|\n";
    foreach ($counts as $i => $count) {
        $bar = str_repeat('█', (int) round(20 * $count / $widest));
        $out .= sprintf("| %s | %s | %d | %s |\n", num($edges[$i]), num($edges[$i + 1]), $count, $bar);
    }
    $out .= sprintf("\n_Computed with numpy %s, laid out by PHP %s._\n", md($stats['numpy']), PHP_VERSION);
    return $out;
});

Polyfork::run();
