output before the opening tag
<?php
// Writes to descriptor 1 before the polyfork client is loaded (the text above the tag, and
// an echo before require), then from a handler in the lowest-level ways PHP has. With the
// channel on descriptors of its own (polyfork -channel fd) these are log lines; over stdin
// and stdout the first one breaks the channel.
echo "early bytes before the client\n";

require __DIR__ . '/../../clients/php/autoload.php';

use Polyfork\Polyfork;

Polyfork::handle('noisy', function (): string {
    $fd1 = fopen('php://fd/1', 'w');
    fwrite($fd1, "from php://fd/1\n");
    fclose($fd1);
    system('echo from a shell');
    echo "from echo\n";
    return 'ok';
});

Polyfork::run();
