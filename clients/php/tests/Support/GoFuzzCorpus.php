<?php

declare(strict_types=1);

namespace Polyfork\Tests\Support;

/**
 * Reads Go's fuzz corpus files (`go test fuzz v1`, then one Go expression per line, as
 * testing.F writes them under testdata/fuzz/FuzzName/): the `[]byte(...)` and `string(...)`
 * values, with Go's string literals (interpreted "..." with every escape Go has, and raw
 * `...`). Other values (`int(5)`, `bool(true)`, ...) are not bytes and are skipped.
 */
final class GoFuzzCorpus
{
    private const HEADER = 'go test fuzz v1';

    /**
     * Every corpus file under $dirs, recursively, by path.
     *
     * @param list<string> $dirs
     * @return array<string, list<string>> path => the byte values in the file
     */
    public static function load(array $dirs): array
    {
        $files = [];
        foreach ($dirs as $dir) {
            if (!is_dir($dir)) {
                continue;
            }
            $it = new \RecursiveIteratorIterator(new \RecursiveDirectoryIterator($dir, \FilesystemIterator::SKIP_DOTS));
            foreach ($it as $file) {
                if ($file->isFile()) {
                    $files[$file->getPathname()] = self::parse((string) file_get_contents($file->getPathname()), $file->getPathname());
                }
            }
        }
        ksort($files);
        return $files;
    }

    /**
     * The byte values of one corpus file.
     *
     * @return list<string>
     * @throws \UnexpectedValueException when it is not a corpus file
     */
    public static function parse(string $text, string $where = 'corpus file'): array
    {
        $lines = preg_split('/\r?\n/', rtrim($text, "\n"));
        if (($lines[0] ?? '') !== self::HEADER) {
            throw new \UnexpectedValueException("$where: the first line is not \"" . self::HEADER . '"');
        }
        $values = [];
        foreach (array_slice($lines, 1) as $i => $line) {
            $line = trim($line);
            if ($line === '') {
                continue;
            }
            if (preg_match('/^(\[\]byte|string)\((.*)\)$/sD', $line, $m) !== 1) {
                if (preg_match('/^[a-z0-9]+\(.*\)$/D', $line) === 1) {
                    continue; // int(5), bool(true), float64(...): not bytes
                }
                throw new \UnexpectedValueException(sprintf('%s line %d: not a Go corpus value: %s', $where, $i + 2, $line));
            }
            $values[] = self::literal($m[2], sprintf('%s line %d', $where, $i + 2));
        }
        return $values;
    }

    /** The bytes of the Go string literal $lit ("..." or `...`). */
    public static function literal(string $lit, string $where = 'literal'): string
    {
        if (\strlen($lit) >= 2 && $lit[0] === '`' && $lit[-1] === '`') {
            return str_replace("\r", '', substr($lit, 1, -1));
        }
        if (\strlen($lit) < 2 || $lit[0] !== '"' || $lit[-1] !== '"') {
            throw new \UnexpectedValueException("$where: not a Go string literal: $lit");
        }
        $s = substr($lit, 1, -1);
        $out = '';
        $n = \strlen($s);
        for ($i = 0; $i < $n; $i++) {
            $c = $s[$i];
            if ($c !== '\\') {
                $out .= $c;
                continue;
            }
            $e = $s[++$i] ?? '';
            switch ($e) {
                case 'a': $out .= "\x07"; break;
                case 'b': $out .= "\x08"; break;
                case 'f': $out .= "\x0c"; break;
                case 'n': $out .= "\n"; break;
                case 'r': $out .= "\r"; break;
                case 't': $out .= "\t"; break;
                case 'v': $out .= "\x0b"; break;
                case '\\': $out .= '\\'; break;
                case '"': $out .= '"'; break;
                case '\'': $out .= '\''; break;
                case 'x':
                    $out .= \chr((int) hexdec(self::digits($s, $i + 1, 2, '0-9a-fA-F', $where)));
                    $i += 2;
                    break;
                case 'u':
                case 'U':
                    $len = $e === 'u' ? 4 : 8;
                    $out .= mb_chr((int) hexdec(self::digits($s, $i + 1, $len, '0-9a-fA-F', $where)), 'UTF-8');
                    $i += $len;
                    break;
                default:
                    if ($e >= '0' && $e <= '7') {
                        $out .= \chr((int) octdec(self::digits($s, $i, 3, '0-7', $where)));
                        $i += 2;
                        break;
                    }
                    throw new \UnexpectedValueException("$where: unknown escape \\$e");
            }
        }
        return $out;
    }

    private static function digits(string $s, int $at, int $len, string $class, string $where): string
    {
        $d = substr($s, $at, $len);
        if (\strlen($d) !== $len || preg_match("/^[$class]+\$/D", $d) !== 1) {
            throw new \UnexpectedValueException("$where: bad escape digits \"$d\"");
        }
        return $d;
    }
}
