#!/usr/bin/env bash
# Installs what building, testing and the demo need on Debian 12, only what is missing:
# PHP 8.2 with its headers, libclang (ext-php-rs generates PHP's bindings with bindgen),
# PHPUnit, php-fpm and nginx (for the php-fpm test), a C toolchain, and Rust (through rustup)
# when there is no cargo. Given packages as arguments, installs those instead (the ones
# missing), and not Rust: `make bench-deps` asks for wrk and wordpress.
set -euo pipefail

wanted=("$@")
if ((${#wanted[@]} == 0)); then
  wanted=(php8.2-cli php8.2-dev php8.2-xml php8.2-mbstring php8.2-curl php8.2-fpm nginx
          libclang-dev clang build-essential pkg-config phpunit ca-certificates curl openssl)
fi
packages=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || packages+=("$package")
done
if ((${#packages[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "install-deps: installing ${packages[*]}"
  # The tests start their own nginx and php-fpm on 127.0.0.1; the packages must not start
  # system services listening on every interface.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if (($# == 0)) && ! command -v cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  echo "install-deps: installing Rust with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi
