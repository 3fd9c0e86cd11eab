<?php
// PHPUnit bootstrap: the extension under test must be loaded (run through scripts/php-dev,
// as `make test` does).
if (!extension_loaded('fluent_webhook')) {
    fwrite(STDERR, "fluent_webhook is not loaded: run the tests with `make test` (scripts/php-dev)\n");
    exit(1);
}
require __DIR__ . '/support/Receiver.php';
require __DIR__ . '/support/WebhookTestCase.php';
