#!/usr/bin/env bash
# Format the whole tree once and apply Biome's safe lint fixes (biome.json), then print the
# files that changed and what `npm run check` still reports, grouped by rule: those need a
# hand fix. Run it when nobody else is editing: it rewrites files in place. Commit after.
set -euo pipefail
cd "$(dirname "$0")/.."
biome=node_modules/.bin/biome

# The files Biome may touch, hashed before and after, so the list is what this run changed
# (not whatever else is uncommitted in the tree).
snapshot() { git ls-files -z --cached --others --exclude-standard -- '*.ts' '*.js' '*.mjs' '*.json' | xargs -0 -r sha1sum 2>/dev/null | sort -k2; }
before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
snapshot >"$before"

"$biome" check --write . >/dev/null 2>&1 || true

snapshot >"$after"
changed=$(join -1 2 -2 2 -o 1.1,2.1,0 "$before" "$after" | awk '$1 != $2 { print $3 }')
if [ -n "$changed" ]; then
  echo "changed ($(echo "$changed" | wc -l) files):"
  echo "$changed" | sed 's/^/  /'
  echo
  echo "against the last commit (which may include others' uncommitted edits):"
  git diff --shortstat -- $changed || true
else
  echo "changed: nothing"
fi

echo
echo "left for a hand fix (rule: diagnostics in files):"
"$biome" lint --reporter=github --max-diagnostics=none . 2>/dev/null |
  sed -nE 's/^::(error|warning|notice) title=([^,]+),file=([^,]+),line=([0-9]+).*/\1 \2 \3:\4/p' |
  sed "s|$(pwd)/||" |
  awk '{ n[$1 " " $2]++; split($3, f, ":"); if (!((k = $1 " " $2 " " f[1]) in seen)) { seen[k] = 1; files[$1 " " $2]++ } ; loc[$1 " " $2] = loc[$1 " " $2] "\n      " $3 }
       END { if (length(n) == 0) print "  nothing"; for (r in n) printf "  %s: %d in %d files%s\n", r, n[r], files[r], loc[r] }' || true

echo
if npm run --silent check >/dev/null 2>&1; then echo "npm run check: passes"; else echo "npm run check: FAILS (fix the above, then run it again)"; fi
