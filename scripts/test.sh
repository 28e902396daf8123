#!/usr/bin/env bash
# The test command (npm test): install what is missing, build, run every tap test,
# and end with one line "N passed, N failed" (", N skipped" when something skipped,
# each skip named on a line of its own just above).
#
#   npm test                         # everything
#   npm test -- test/core-e2e.test.ts   # some files
#   NASAUTH_TEST_JOBS=4 npm test     # more test files at once (shakes out races; HACKING.md)
set -uo pipefail
cd "$(dirname "$0")/.."

fail_early() { echo "test command: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

bash scripts/ensure-deps.sh || fail_early "installing the dependencies failed (scripts/ensure-deps.sh)"

# node-linux-pam (the in-process PAM binding the tests use) is an optional dependency so
# that `npm ci && npm start` works on a machine without PAM headers. On a fresh machine
# `npm ci` runs before ensure-deps installed libpam0g-dev, so npm dropped it: build it
# now, at the version the lock file names, without touching package.json or the lock.
if ! node -e "require('node-linux-pam')" >/dev/null 2>&1; then
  ver=$(node -p "require('./package-lock.json').packages['node_modules/node-linux-pam'].version")
  echo "test command: building node-linux-pam@$ver (npm ci could not: no PAM headers then)" >&2
  npm install --no-save --no-audit --no-fund "node-linux-pam@$ver" >&2 &&
    node -e "require('node-linux-pam')" >/dev/null 2>&1 ||
    fail_early "node-linux-pam@$ver could not be built (libpam0g-dev, make, g++ and python3 are needed)"
fi

node scripts/build.mjs >/dev/null || fail_early "the build failed (node scripts/build.mjs)"
if [ -f pam/Makefile ]; then make -s -C pam >/dev/null || fail_early "the PAM module did not build (make -C pam)"; fi

# Every temporary file of this run goes to one folder of its own, readable by the other
# uids some tests run as; whatever is left in it at the end is a test that did not
# clean up after itself, and counts as a failure (CI machines are reused).
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/nasauth-test-run.XXXXXX") || fail_early "cannot make a temporary folder"
chmod 1777 "$run_tmp"   # like /tmp: programs run as nobody (valgrind) make files here
out="$run_tmp.tap"
trap 'rm -rf "$run_tmp" "$out"' EXIT

files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/*.test.ts)
jobs=${NASAUTH_TEST_JOBS:-}
# tap's own reporter output is kept for people; CI reads only the last line.
# (ts-node's compile cache is a cache of the tools, not a test's leftover: keep it apart)
mkdir -p .cache && export V8_COMPILE_CACHE_CACHE_DIR="$PWD/.cache/v8-compile-cache"
TMPDIR="$run_tmp" npx tap --reporter=tap ${jobs:+--jobs="$jobs"} "${files[@]}" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}

# Count top-level assertions across all files from tap's final summary, and name every skip.
read -r pass fail skip < <(node -e '
  const t = require("fs").readFileSync(process.argv[1], "utf8");
  let pass = 0, fail = 0, skip = 0;
  // tap prints "# { total: N, pass: P, fail: F, skip: S }" once at the end of the run
  const m = [...t.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?/gm)].pop();
  if (m) { pass = +(m[2] || 0); fail = +(m[3] || 0); skip = +(m[4] || 0); const total = +m[1]; if (pass + fail + skip < total) fail += total - pass - fail - skip; }
  console.log(pass, fail, skip);
' "$out")

skipped=$(node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
  // "# Subtest: NAME" opens a level; "ok N - NAME # SKIP why" is a skipped test or file
  const stack = [];
  const seen = new Set();
  for (const l of lines) {
    const sub = /^(\s*)# Subtest: (.*)$/.exec(l);
    if (sub) { const d = sub[1].length / 4; stack.length = d; stack[d] = sub[2]; continue; }
    const ok = /^(\s*)ok \d+ - (.*?) # SKIP\s*(.*)$/i.exec(l);
    if (!ok) continue;
    const d = ok[1].length / 4;
    const where = [...stack.slice(0, d), ok[2]].filter(Boolean);
    // a skipped file reports its reason twice (plan and file line): keep the innermost
    const key = where[0] + "|" + ok[3];
    if (seen.has(key)) continue;
    seen.add(key);
    console.log(`skipped: ${where.join(" > ")} (${ok[3] || "no reason given"})`);
  }
' "$out")

left=$(cd "$run_tmp" && ls -A)
if [ -n "$left" ]; then
  echo "left behind in the temporary folder by the tests (each test must remove what it made):"
  echo "$left" | sed 's/^/  /' | head -n 40
  fail=$((fail + 1))
fi

if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
[ -n "$skipped" ] && echo "$skipped"
if [ "$skip" -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
