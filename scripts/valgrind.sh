#!/usr/bin/env bash
# Runs the PHPUnit suites that exercise the extension inside the test process under valgrind
# memcheck, with PHP's allocator off so that memcheck sees every allocation, and fails on any
# invalid read or write. PCRE's JIT and opcache are off: memcheck cannot follow JIT-compiled
# code and reports it falsely. (Suites that mostly drive child processes are left out:
# memcheck follows one process.) Then a load with dl(), whose module is gone at request end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/target/valgrind
mkdir -p "$out"
rm -rf "$root/target/spool"
suites=(FeedTest DispatchTest PayloadTest SelectedFieldsTest SignatureTest LimitsTest StubsTest)
status=0
for suite in "${suites[@]}"; do
  log=$out/$suite.log
  started=$(date +%s)
  if ! USE_ZEND_ALLOC=0 ZEND_DONT_UNLOAD_MODULES=1 \
      PHP_DEV_WRAPPER="valgrind --tool=memcheck --leak-check=no --num-callers=40 --error-limit=no --log-file=$log" \
      "$root/scripts/php-dev" -d pcre.jit=0 -d opcache.enable_cli=0 /usr/bin/phpunit -c "$root/php-tests/phpunit.xml" "$root/php-tests/$suite.php" \
      > "$out/$suite.out" 2>&1; then
    echo "$suite: PHPUnit failed under valgrind (see $out/$suite.out)"
    status=1
  fi
  invalid=$(grep -cE "Invalid (read|write)|Invalid free|Mismatched free|uninitialised value" "$log" || true)
  ours=$(grep -cE "libfluent_webhook|fluent_webhook::" "$log" || true)
  summary=$(grep "ERROR SUMMARY" "$log" | tail -1 | sed 's/^==[0-9]*== //')
  printf '%-20s %4ds  invalid accesses: %s  frames in our library: %s  %s\n' "$suite" $(( $(date +%s) - started )) "$invalid" "$ours" "$summary"
  [ "$invalid" = 0 ] || status=1
done
# Loaded with dl(), the module is gone at the end of the request: PHP's final clean-up must
# find none of its ini entries left (it read freed memory when module shutdown left them).
so=${FLUENT_WEBHOOK_SO:-$root/target/release/libfluent_webhook.so}
log=$out/dl.log
printf '<?php dl(%s); echo ini_get("fluent_webhook.timeout");' "'$(basename "$so")'" > "$out/dl.php"
USE_ZEND_ALLOC=0 valgrind --tool=memcheck --log-file="$log" php -n -d enable_dl=1 -d extension_dir="$(dirname "$so")" \
  "$out/dl.php" > "$out/dl.out" 2>&1 || status=1
invalid=$(grep -cE "Invalid (read|write)|Invalid free|Mismatched free|uninitialised value" "$log" || true)
printf '%-20s        invalid accesses: %s  output: %s\n' "dl()" "$invalid" "$(cat "$out/dl.out")"
[ "$invalid" = 0 ] && [ "$(cat "$out/dl.out")" = 15 ] || status=1
exit $status
