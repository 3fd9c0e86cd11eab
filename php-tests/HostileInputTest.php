<?php

namespace FluentWebhook\Tests;

/**
 * Hostile calls across every public function and method, each in its own child process so
 * that a crash, abort or hang shows as a failure of that case alone. Each must end in the
 * exception named (a FluentWebhook\ exception, or PHP's TypeError/ArgumentCountError for a
 * wrong argument type or count) or in documented behaviour ("ok").
 */
final class HostileInputTest extends WebhookTestCase
{
    private const PRELUDE = <<<'PHP'
        <?php
        function fw_feed(array $o = []) {
            return new FluentWebhook\Feed($o + ['name' => 'h', 'request_url' => 'http://127.0.0.1:9/h', 'event_trigger' => ['e']]);
        }
        function fw_cycle() { $a = ['x' => 1]; $a['self'] = &$a; return $a; }
        function fw_deep(int $n) { $d = []; for ($i = 0; $i < $n; $i++) { $d = ['n' => $d]; } return $d; }
        class FwThrows implements JsonSerializable { function jsonSerialize(): mixed { throw new LogicException('nope'); } }
        class FwMagic { public $a = 1; function __get($n) { throw new Exception('magic'); } }
        enum FwUnit { case A; }
        // Deletes, from the ArrayObject being walked, the entry it is under, freeing its key,
        // and hands the key's memory to new strings; then fails (NAN) or throws.
        class FwUnsetsItsKey implements JsonSerializable {
            function __construct(private bool $throw = false) {}
            function jsonSerialize(): mixed {
                $ao = $GLOBALS['fw_ao']; $k = array_key_first((array) $ao); unset($ao[$k], $k);
                $GLOBALS['fw_junk'] = array_map(fn ($i) => str_repeat('Z', 20) . ($i % 10), range(1, 64));
                return $this->throw ? throw new Exception('x') : NAN;
            }
        }
        function fw_key_path(callable $call) {
            $GLOBALS['fw_ao'] = new ArrayObject([str_repeat('k', 20) . random_int(1, 9) => new FwUnsetsItsKey]);
            try {
                $call(['ao' => $GLOBALS['fw_ao']]);
            } catch (FluentWebhook\PayloadException $e) {
                preg_match('/^\$data\[ao\]\[k{20}[1-9]\]: NAN cannot be encoded as JSON$/', $e->getMessage()) || throw new Exception('path: ' . $e->getMessage());
                return;
            }
            throw new Exception('no PayloadException');
        }
        // Grows (and so moves) the storage of the ArrayObject being walked.
        class FwGrowsIt implements JsonSerializable {
            function jsonSerialize(): mixed {
                unset($GLOBALS['fw_ao']['b']);
                for ($i = 0; $i < 1000; $i++) { $GLOBALS['fw_ao']["n$i"] = str_repeat('v', 30) . $i; }
                return 1;
            }
        }
        // The Feed a constructor is building, taken from debug_backtrace() by a jsonSerialize()
        // that its settings walk calls; the constructor then throws, and it stays unconstructed.
        function fw_unconstructed() {
            $grab = new class implements JsonSerializable { function jsonSerialize(): mixed {
                foreach (debug_backtrace(DEBUG_BACKTRACE_PROVIDE_OBJECT) as $f) { if (($f['object'] ?? null) instanceof FluentWebhook\Feed) { $GLOBALS['fw_u'] = $f['object']; } }
                return [];
            } };
            try { new FluentWebhook\Feed(['name' => $grab, 'request_url' => 'http://127.0.0.1:9/h', 'event_trigger' => ['e']]); } catch (FluentWebhook\InvalidFeedException) {}
            return $GLOBALS['fw_u'];
        }
        $rows = fn (int $n, string $k, string $v) => array_map(fn ($i) => [$k => "k$i", $v => '{{order.id}}'], range(1, $n));
        try {
        PHP;

    private const POSTLUDE = <<<'PHP'

            echo "RESULT:ok";
        } catch (Throwable $e) {
            echo 'RESULT:', get_class($e), ': ', $e->getMessage();
        }
        PHP;

    public static function hostileCalls(): array
    {
        $invalid = 'FluentWebhook\InvalidFeedException';
        $payload = 'FluentWebhook\PayloadException';
        $error = 'FluentWebhook\Exception';
        return [
            // Feed::__construct
            'settings is a string' => ['new FluentWebhook\Feed("name=x");', 'TypeError'],
            'settings is null' => ['new FluentWebhook\Feed(null);', 'TypeError'],
            'no arguments' => ['new FluentWebhook\Feed();', 'ArgumentCountError'],
            'id is an array' => ['fw_feed([])->id(); new FluentWebhook\Feed(["name" => "x"], [1]);', $invalid],
            'id is a float' => ['new FluentWebhook\Feed(["name" => "h", "request_url" => "http://a.test/", "event_trigger" => ["e"]], 1.5);', $invalid],
            'id is an object' => ['new FluentWebhook\Feed(["name" => "h", "request_url" => "http://a.test/", "event_trigger" => ["e"]], new stdClass);', $invalid],
            'id has invalid UTF-8' => ['fw_feed(); new FluentWebhook\Feed(["name" => "h", "request_url" => "http://a.test/", "event_trigger" => ["e"]], "\xff");', $invalid],
            'name with NUL bytes' => ['echo strlen(fw_feed(["name" => "a\0b"])->name());', 'ok'],
            'name with invalid UTF-8' => ['fw_feed(["name" => "Zo\xeb"]);', $invalid],
            // Keys a feed does not read are ignored, whatever they are or hold.
            'settings key with invalid UTF-8' => ['fw_feed(["\xff" => 1]);', 'ok'],
            'a known settings key with invalid UTF-8' => ['fw_feed(["name" => "\xff"]);', $invalid],
            'URL with CR LF' => ['fw_feed(["request_url" => "http://a.test/\r\nHost: evil"]);', $invalid],
            'URL with a tab' => ['fw_feed(["request_url" => "http://a.test/\tx"]);', $invalid],
            'javascript: URL' => ['fw_feed(["request_url" => "javascript:alert(1)"]);', $invalid],
            'file: URL' => ['fw_feed(["request_url" => "file:///etc/passwd"]);', $invalid],
            'data: URL' => ['fw_feed(["request_url" => "data:text/plain,hi"]);', $invalid],
            'gopher: URL' => ['fw_feed(["request_url" => "gopher://a.test/"]);', $invalid],
            'URL with user and password' => ['fw_feed(["request_url" => "https://u:p@a.test/"]);', $invalid],
            'IDN URL is punycoded' => ['if (!str_contains(fw_feed(["request_url" => "http://bücher.example/x"])->url(), "xn--bcher-kva")) throw new Exception("no punycode");', 'ok'],
            'IPv6 literal URL' => ['fw_feed(["request_url" => "http://[::1]:8080/x"])->url();', 'ok'],
            // Past 65,534 bytes no request can be sent to it (each attempt failed before 2026-11-29).
            'very long URL' => ['fw_feed(["request_url" => "http://a.test/" . str_repeat("a", 100000)]);', $invalid],
            'long URL that can be sent to' => ['fw_feed(["request_url" => "http://a.test/" . str_repeat("a", 65000)]);', 'ok'],
            'header value with CR LF' => ['fw_feed(["request_headers" => "custom_headers", "custom_header_values" => [["header_name" => "X-A", "header_value" => "a\r\nX-Evil: 1"]]]);', $invalid],
            'header name with NUL' => ['fw_feed(["request_headers" => "custom_headers", "custom_header_values" => [["header_name" => "X\0A", "header_value" => "a"]]]);', $invalid],
            'header name with non-ASCII' => ['fw_feed(["request_headers" => "custom_headers", "custom_header_values" => [["header_name" => "Ünï", "header_value" => "a"]]]);', $invalid],
            'header rows are a string' => ['fw_feed(["request_headers" => "custom_headers", "custom_header_values" => "X-A: b"]);', $invalid],
            'template with unbalanced braces' => ['fw_feed(["request_body" => "selected_fields", "selected_field_values" => [["field_name" => "a", "field_value" => "{{{{order.id}} }} {{ ## {{x"]]])->render("e", ["order" => ["id" => 1]]);', 'ok'],
            'template of 100,000 codes' => ['fw_feed(["request_body" => "selected_fields", "selected_field_values" => [["field_name" => "a", "field_value" => str_repeat("{{order.id}}", 100000)]]])->render("e", ["order" => ["id" => 1]]);', 'ok'],
            '10,000 selected fields' => ['fw_feed(["request_body" => "selected_fields", "selected_field_values" => $rows(10000, "field_name", "field_value")])->render("e", ["order" => ["id" => 1]]);', 'ok'],
            '100,000 event names' => ['fw_feed(["event_trigger" => array_map(fn ($i) => "e$i", range(1, 100000))])->matches("e99999") || throw new Exception("no match");', 'ok'],
            'event name is an array' => ['fw_feed(["event_trigger" => [["e"]]]);', $invalid],
            'enabled is an object' => ['fw_feed(["enabled" => new stdClass]);', $invalid],
            'settings hold a resource' => ['fw_feed(["name" => STDIN]);', $invalid],
            'settings hold a cycle' => ['$s = ["name" => "h", "request_url" => "http://a.test/", "event_trigger" => ["e"]]; $s["event_trigger"][] = &$s; new FluentWebhook\Feed($s);', $invalid],
            'an unknown settings key holds a cycle' => ['$s = ["name" => "h", "request_url" => "http://a.test/", "event_trigger" => ["e"]]; $s["me"] = &$s; new FluentWebhook\Feed($s);', 'ok'],
            'settings hold a closure' => ['fw_feed(["name" => fn () => 1]);', $invalid],
            'secret is not whsec_' => ['fw_feed(["secret" => "hunter2"]);', $invalid],
            // Feed methods
            'matches(null)' => ['fw_feed()->matches(null);', 'TypeError'],
            'matches invalid UTF-8' => ['fw_feed()->matches("\xff");', $error],
            'matches a 10 MB name' => ['fw_feed()->matches(str_repeat("a", 10 << 20));', $error],
            'render with a string for data' => ['fw_feed()->render("e", "data");', 'TypeError'],
            'render NAN' => ['fw_feed()->render("e", ["x" => NAN]);', $payload],
            'render INF' => ['fw_feed()->render("e", ["x" => INF]);', $payload],
            'render 10,000-deep nesting' => ['fw_feed()->render("e", fw_deep(10000));', $payload],
            'render a reference cycle' => ['fw_feed()->render("e", fw_cycle());', $payload],
            'render an object cycle' => ['$o = new stdClass; $o->o = $o; fw_feed()->render("e", [$o]);', $payload],
            'render a throwing JsonSerializable' => ['fw_feed()->render("e", [new FwThrows]);', 'LogicException'],
            'render a resource' => ['fw_feed()->render("e", [STDOUT]);', $payload],
            'render a closure' => ['fw_feed()->render("e", [fn () => 1]);', 'ok'],
            'render 100,000 elements' => ['fw_feed()->render("e", range(1, 100000));', 'ok'],
            'render a 10 MB string' => ['fw_feed()->render("e", ["x" => str_repeat("a", 10 << 20)]);', $payload],
            'render invalid UTF-8 key' => ['fw_feed()->render("e", ["\xfe" => 1]);', $payload],
            'render invalid UTF-8 value' => ['fw_feed()->render("e", ["x" => "\xc3\x28"]);', $payload],
            'render an object with __get' => ['fw_feed()->render("e", [new FwMagic]);', 'ok'],
            'render a generator' => ['fw_feed()->render("e", [(function () { yield 1; })()]);', 'ok'],
            'render an ArrayObject' => ['fw_feed()->render("e", [new ArrayObject([1, 2])]);', 'ok'],
            'render SplObjectStorage' => ['$s = new SplObjectStorage; $s->attach(new stdClass); fw_feed()->render("e", [$s]);', 'ok'],
            'render an ArrayObject whose key jsonSerialize() frees' => ['fw_key_path(fn ($d) => fw_feed()->render("e", $d));', 'ok'],
            'render an ArrayObject whose key a throwing jsonSerialize() frees' => ['$GLOBALS["fw_ao"] = new ArrayObject([str_repeat("k", 20) . random_int(1, 9) => new FwUnsetsItsKey(true)]); fw_feed()->render("e", ["ao" => $GLOBALS["fw_ao"]]);', 'Exception: x'],
            'render an ArrayObject that jsonSerialize() grows' => ['$GLOBALS["fw_ao"] = new ArrayObject(["a" => new FwGrowsIt, "b" => str_repeat("b", 30) . random_int(1, 9), "c" => [1, 2]]); $b = fw_feed()->render("e", ["ao" => $GLOBALS["fw_ao"]])["body"]; preg_match(\'/^\{"ao":\{"a":1,"b":"b{30}[1-9]","c":\[1,2\]\}\}$/\', $b) || throw new Exception($b);', 'ok'],
            'render ArrayObject storage that grows after __serialize() shared it' => ['$GLOBALS["fw_ao"] = new ArrayObject(["a" => new FwGrowsIt, "b" => "x"]); $s = new class($GLOBALS["fw_ao"]) implements JsonSerializable { function __construct(private ArrayObject $ao) {} function jsonSerialize(): mixed { return $this->ao->__serialize()[1]; } }; count(json_decode(fw_feed()->render("e", [$s])["body"], true)[0]) === 1001 || throw new Exception("count");', 'ok'],
            // The walk takes more C stack per level than json_encode(): in a Fiber with a small
            // stack, deep data is an exception, not a segfault (before 2026-11-29).
            'render deep data in a Fiber with a small stack' => ['ini_set("fiber.stack_size", "384K"); $f = new Fiber(fn () => fw_feed()->render("e", ["d" => fw_deep(400), "o" => new stdClass])); $f->start();', $payload],
            'dispatch deep plain data in a Fiber with a small stack' => ['ini_set("fiber.stack_size", "64K"); $f = new Fiber(fn () => FluentWebhook\dispatch("e", ["d" => fw_deep(400)], [fw_feed()])); $f->start();', $payload],
            'dispatch in a Fiber with a small stack' => ['ini_set("fiber.stack_size", "64K"); $f = new Fiber(fn () => count(FluentWebhook\dispatch("e", ["a" => [1, (object) ["b" => 2]]], [fw_feed()])) === 1 || throw new Exception("count")); $f->start();', 'ok'],
            // Outside a Fiber too: PHP code may lower RLIMIT_STACK, which the main thread's stack
            // grows under, to where json_encode() still encodes 500 levels and the walk did not
            // (a segfault before the check of the thread's stack).
            'render deep data under a small RLIMIT_STACK' => ['$d = fw_deep(500); posix_setrlimit(POSIX_RLIMIT_STACK, 256 << 10, -1); strlen(json_encode($d)) === 3002 || throw new Exception("json_encode"); fw_feed()->render("e", $d);', $payload],
            'dispatch deep data under a small RLIMIT_STACK' => ['$d = fw_deep(500); $d["o"] = new stdClass; posix_setrlimit(POSIX_RLIMIT_STACK, 256 << 10, -1); FluentWebhook\dispatch("e", $d, [fw_feed()]);', $payload],
            'dispatch jsonSerialize() chains under a small RLIMIT_STACK' => ['class FwChain implements JsonSerializable { function __construct(public $n) {} function jsonSerialize(): mixed { return $this->n ? new FwChain($this->n - 1) : 1; } } posix_setrlimit(POSIX_RLIMIT_STACK, 160 << 10, -1); json_encode([new FwChain(400)]) === "[1]" || throw new Exception("json_encode"); FluentWebhook\dispatch("e", [new FwChain(400)], [fw_feed()]);', $payload],
            // jsonSerialize() calls the constructor of the Feed being rendered again, which
            // replaces and frees the settings render() was reading (a segfault before the fix).
            'render while jsonSerialize() constructs the Feed again' => ['$GLOBALS["f"] = fw_feed(["name" => "first", "request_headers" => "custom_headers", "custom_header_values" => [["header_name" => "X-First", "header_value" => str_repeat("v", 100)]]]); $d = ["x" => new class implements JsonSerializable { function jsonSerialize(): mixed { $GLOBALS["f"]->__construct(["name" => "second", "request_url" => "http://127.0.0.1:9/second", "event_trigger" => ["e"]]); $GLOBALS["junk"] = array_map(fn ($i) => str_repeat("J", 200) . $i, range(1, 2000)); return 1; } }]; $r = $GLOBALS["f"]->render("e", $d); ($r["url"] === "http://127.0.0.1:9/h" && isset($r["headers"]["X-First"]) && $GLOBALS["f"]->name() === "second") || throw new Exception(json_encode($r));', 'ok'],
            'render a unit enum' => ['fw_feed()->render("e", [FwUnit::A]);', $payload],
            'render a WeakMap' => ['fw_feed()->render("e", [new WeakMap]);', 'ok'],
            'render NUL in keys and values' => ['fw_feed()->render("e", ["a\0b" => "c\0d"]);', 'ok'],
            'clone a Feed' => ['clone fw_feed();', 'Error'],
            'unserialize a Feed' => ['unserialize(\'O:18:"FluentWebhook\Feed":0:{}\')->name();', 'Exception'],
            // A Feed whose constructor threw, its methods called (a bare \Exception about `$this`
            // from ext-php-rs before), and given to dispatch() and redeliver().
            'name() of an unconstructed Feed' => ['fw_unconstructed()->name();', $error],
            'render() of an unconstructed Feed' => ['fw_unconstructed()->render("e", []);', $error],
            'toArray() of an unconstructed Feed' => ['fw_unconstructed()->toArray();', $error],
            'dispatch an unconstructed Feed' => ['FluentWebhook\dispatch("e", [], [fw_unconstructed()]);', $error],
            'an unconstructed Feed constructed later' => ['$u = fw_unconstructed(); $u->__construct(["name" => "late", "request_url" => "http://127.0.0.1:9/h", "event_trigger" => ["e"]]); $u->name() === "late" || throw new Exception("name");', 'ok'],
            // dispatch()
            'dispatch(null, ...)' => ['FluentWebhook\dispatch(null, [], []);', 'TypeError'],
            'dispatch with data null' => ['FluentWebhook\dispatch("e", null, []);', 'TypeError'],
            'dispatch with feeds null' => ['FluentWebhook\dispatch("e", [], null);', 'TypeError'],
            'dispatch an int feed' => ['FluentWebhook\dispatch("e", [], [1]);', $error],
            // Reading the settings runs jsonSerialize(), which frees them through the reference
            // $feeds holds and hands their memory to new arrays (a segfault before 2026-11-29).
            'dispatch settings freed while read' => ['class FwFreesSettings implements JsonSerializable { function jsonSerialize(): mixed { $GLOBALS["s"] = null; $j = []; for ($i = 0; $i < 2000; $i++) { $j[] = ["k$i" => str_repeat("A", 24)]; } $GLOBALS["junk"] = $j; return "feed"; } } $GLOBALS["s"] = ["name" => new FwFreesSettings, "request_url" => "http://127.0.0.1:9/r", "event_trigger" => ["e"]]; for ($i = 0; $i < 20; $i++) { $GLOBALS["s"]["x$i"] = "v$i"; } $f = [&$GLOBALS["s"]]; count(FluentWebhook\dispatch("e", ["a" => 1], $f)) === 1 || throw new Exception("count");', 'ok'],
            'dispatch a resource feed' => ['FluentWebhook\dispatch("e", [], [STDIN]);', $error],
            'dispatch an stdClass feed' => ['FluentWebhook\dispatch("e", [], [new stdClass]);', $error],
            'dispatch an event with NUL' => ['FluentWebhook\dispatch("e\0x", [], [fw_feed()]);', $error],
            'dispatch an ArrayObject whose key jsonSerialize() frees' => ['fw_key_path(fn ($d) => FluentWebhook\dispatch("e", $d, [fw_feed()]));', 'ok'],
            'dispatch a cycle' => ['FluentWebhook\dispatch("e", fw_cycle(), [fw_feed()]);', $payload],
            'dispatch an invalid settings array' => ['FluentWebhook\dispatch("e", [], [["name" => "x"]]);', $invalid],
            'dispatch to 1,000 feeds' => ['FluentWebhook\dispatch("e", ["x" => 1], array_map(fn ($i) => fw_feed([], $i), range(1, 1000)));', 'ok'],
            // flush(), stats(), events(), resume()
            'flush(-1)' => ['FluentWebhook\flush(-1);', $error],
            'flush(NAN)' => ['FluentWebhook\flush(NAN);', $error],
            'flush(INF)' => ['FluentWebhook\flush(INF);', $error],
            'flush("soon")' => ['FluentWebhook\flush("soon");', 'TypeError'],
            'stats(1)' => ['FluentWebhook\stats(1);', 'ArgumentCountError'],
            'events(1)' => ['FluentWebhook\events(1);', 'ArgumentCountError'],
            'resume(1)' => ['FluentWebhook\resume(1);', 'ArgumentCountError'],
            // deliveries(), redeliver()
            'deliveries with since NAN' => ['FluentWebhook\deliveries(["since" => NAN]);', $error],
            'deliveries with a huge limit' => ['FluentWebhook\deliveries(["limit" => PHP_INT_MAX]);', $error],
            'deliveries("x")' => ['FluentWebhook\deliveries("x");', 'TypeError'],
            'deliveries with SQL in a filter' => ['FluentWebhook\deliveries(["feed" => "1\' OR 1=1 --", "event" => "\'; DROP TABLE deliveries; --"]) === [] || throw new Exception("rows");', 'ok'],
            'redeliver invalid UTF-8' => ['FluentWebhook\redeliver("\xff");', $error],
            'redeliver a long id' => ['FluentWebhook\redeliver(str_repeat("a", 1000));', $error],
            // generate_secret(), verify()
            'verify with a bad secret' => ['FluentWebhook\verify("x", [], "");', $error],
            'verify with array headers' => ['FluentWebhook\verify(FluentWebhook\generate_secret(), ["webhook-id" => [1, 2], "webhook-timestamp" => new stdClass], "") && throw new Exception("true");', 'ok'],
            'verify a 10 MB body' => ['FluentWebhook\verify(FluentWebhook\generate_secret(), ["webhook-id" => "a", "webhook-timestamp" => (string) time(), "webhook-signature" => "v1,x"], str_repeat("a", 10 << 20)) && throw new Exception("true");', 'ok'],
            // A key that is not UTF-8 (a header name as a server passed it on) was a Rust panic.
            'verify with a header name of invalid UTF-8' => ['$s = FluentWebhook\generate_secret(); $r = fw_feed(["secret" => $s, "request_url" => "https://a.test/"])->render("e", []); FluentWebhook\verify($s, ["\xff" => "x"] + $r["headers"], $r["body"]) || throw new Exception("false");', 'ok'],
            'verify with a header value of invalid UTF-8' => ['FluentWebhook\verify(FluentWebhook\generate_secret(), ["webhook-id" => "\xff", "webhook-timestamp" => "\xff", "webhook-signature" => "\xff"], "\xff") && throw new Exception("true");', 'ok'],
            'dispatch with a $feeds key of invalid UTF-8' => ['FluentWebhook\dispatch("other", [], ["\xff" => fw_feed()]) === [] || throw new Exception("sent");', 'ok'],
            'deliveries with a filter key of invalid UTF-8' => ['FluentWebhook\deliveries(["\xff" => 1]);', $error],
            'verify a negative tolerance' => ['FluentWebhook\verify(FluentWebhook\generate_secret(), [], "", -1);', $error],
            'generate_secret(1)' => ['FluentWebhook\generate_secret(1);', 'ArgumentCountError'],
        ];
    }

    /** @dataProvider hostileCalls */
    public function testAHostileCallEndsCleanly(string $code, string $expected): void
    {
        // An in-memory spool: what a case leaves unsent must not be sent by the next process.
        $ini = ['fluent_webhook.shutdown_timeout' => '1', 'fluent_webhook.spool_path' => ''];
        $result = self::runPhp(self::PRELUDE . "\n" . $code . self::POSTLUDE, $ini, 60.0);
        $this->assertFalse($result['timed_out'], 'hung: ' . $result['stdout']);
        $this->assertNull($result['signal'], "killed by signal {$result['signal']}: " . $result['stderr']);
        $this->assertSame(0, $result['exit'], $result['stdout'] . $result['stderr']);
        $this->assertStringNotContainsString('Rust panic', $result['stdout'] . $result['stderr']);
        $this->assertMatchesRegularExpression('/RESULT:' . preg_quote($expected, '/') . '($|: )/', $result['stdout']);
    }

    public function testTheCorpusIsLargeEnough(): void
    {
        $this->assertGreaterThanOrEqual(60, count(self::hostileCalls()));
    }
}
