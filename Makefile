# fluent-webhook: build, test, demo and install the PHP extension.
#   make demo     build, start a local receiver, send webhooks for sample store events
#   make test     cargo tests of the core, then PHPUnit against the built extension
#   make install  copy the extension into PHP's extension dir and enable it (CLI and FPM)

# rustup installs cargo here; a fresh machine may not have it on PATH yet.
export PATH := $(HOME)/.cargo/bin:$(PATH)

SO        := target/release/libfluent_webhook.so
PHP_DEV   := scripts/php-dev
PHPUNIT   ?= $(shell command -v phpunit || echo /usr/bin/phpunit)

.PHONY: all build deps test test-rust test-php demo install crash-window clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cargo build --release

test-rust: deps
	cargo test --no-default-features --lib

test-php: build
	rm -rf target/spool
	$(PHP_DEV) $(PHPUNIT) -c php-tests/phpunit.xml

test: test-rust test-php

demo: build
	rm -rf target/demo
	FLUENT_WEBHOOK_SPOOL=$(CURDIR)/target/demo/spool.sqlite $(PHP_DEV) scripts/demo.php

# How long a dispatched delivery lives only in memory before the spool has it.
crash-window: build
	FLUENT_WEBHOOK_SPOOL=$(CURDIR)/target/crash-window/spool.sqlite $(PHP_DEV) -d fluent_webhook.retry_schedule=3600 scripts/crash-window.php

install: build
	@scripts/install-extension.sh $(SO)

clean:
	cargo clean
