# fluent-webhook: build, test, demo and install the PHP extension.
#   make demo     build, start a local receiver, send webhooks for sample store events
#   make test     cargo tests of the core, PHPUnit against the built extension, then make e2e
#   make e2e      the WordPress plugin in a real WordPress (MariaDB, php-fpm, nginx) and Chromium
#   make install  copy the extension into PHP's extension dir and enable it (CLI and FPM)

# rustup installs cargo here; a fresh machine may not have it on PATH yet.
export PATH := $(HOME)/.cargo/bin:$(PATH)

SO        := target/release/libfluent_webhook.so
PHP_DEV   := scripts/php-dev
PHPUNIT   ?= $(shell command -v phpunit || echo /usr/bin/phpunit)

.PHONY: all build deps test test-rust test-php e2e demo install crash-window fuzz valgrind bench-deps bench bench-floors bench-smoke clean

# Seconds each fuzz target runs in `make fuzz`.
FUZZ_SECONDS ?= 60

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cargo build --release

test-rust: deps
	cargo test --no-default-features --tests

test-php: build
	rm -rf target/spool
	$(PHP_DEV) $(PHPUNIT) -c php-tests/phpunit.xml

# The WordPress plugin end to end (e2e/run.sh): screenshots of every step in target/e2e-screenshots.
e2e: build
	e2e/run.sh

test: test-rust test-php e2e bench-smoke

demo: build
	rm -rf target/demo
	FLUENT_WEBHOOK_SPOOL=$(CURDIR)/target/demo/spool.sqlite $(PHP_DEV) scripts/demo.php

# What the benchmarks need besides the extension: wrk, WordPress's Requests, and the bounds
# (examples/), built apart so that the extension's .so is not rebuilt without PHP.
bench-deps: build
	@scripts/install-deps.sh wrk wordpress
	cargo build --release --no-default-features --examples --target-dir target/bound

# The extension side by side with WordPress's Requests, curl_multi and wrk (BENCHMARKS.md).
bench: bench-deps
	scripts/bench.sh

# The throughput and CPU targets asked of the extension and of the cheapest senders that keep
# each delivery in SQLite before its request, in alternated rounds (BENCH_ROUNDS, default 5).
bench-floors: bench-deps
	scripts/bench.sh scripts/bench-floors.php

# Both benchmarks at 2 % of their size, a few seconds each: part of `make test`, so that they
# keep working. Their figures mean nothing; a figure they cannot measure fails the run.
bench-smoke: bench-deps
	BENCH_SCALE=0.02 scripts/bench.sh
	BENCH_SCALE=0.02 BENCH_ROUNDS=1 scripts/bench.sh scripts/bench-floors.php

# How long a dispatched delivery lives only in memory before the spool has it.
crash-window: build
	rm -rf target/crash-window
	FLUENT_WEBHOOK_SPOOL=$(CURDIR)/target/crash-window/spool.sqlite $(PHP_DEV) -d fluent_webhook.retry_schedule=3600 scripts/crash-window.php

# cargo-fuzz (libFuzzer) on the settings parser, the smartcode renderer and the encoders,
# seeded with the sample events; bounded by FUZZ_SECONDS per target. RUSTC_BOOTSTRAP lets
# the stable toolchain take the sanitizer flags cargo-fuzz passes.
fuzz: deps
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	scripts/fuzz-seed.sh
	for target in settings smartcode encoders; do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$target fuzz/corpus/$$target -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

# The in-process PHPUnit suites under valgrind memcheck; fails on any invalid read or write.
valgrind: build
	command -v valgrind >/dev/null || apt-get install -y -qq valgrind
	scripts/valgrind.sh

install: build
	@scripts/install-extension.sh $(SO)

clean:
	cargo clean
