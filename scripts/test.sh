#!/usr/bin/env bash
# The test command (npm test): install what is missing, build, run every tap test,
# and end with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
node scripts/build.mjs >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
if [ -f pam/Makefile ]; then make -s -C pam >/dev/null || { echo "0 passed, 1 failed"; exit 1; }; fi

out=$(mktemp)
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/*.test.ts)
# tap's own reporter output is kept for people; CI reads only the last line.
npx tap --reporter=tap "${files[@]}" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}

# Count top-level assertions across all files from tap's per-file summaries.
read -r pass fail skip < <(node -e '
  const t = require("fs").readFileSync(process.argv[1], "utf8");
  let pass = 0, fail = 0, skip = 0;
  // each file reports "# { total: N, pass: P, fail: F, skip: S }" once at the end of the run
  const m = [...t.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?/gm)].pop();
  if (m) { pass = +(m[2] || 0); fail = +(m[3] || 0); skip = +(m[4] || 0); const total = +m[1]; if (pass + fail + skip < total) fail += total - pass - fail - skip; }
  console.log(pass, fail, skip);
' "$out")
rm -f "$out"
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
if [ "$skip" -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
