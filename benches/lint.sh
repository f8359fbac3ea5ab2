#!/usr/bin/env bash
# Start-up and throughput of `aspen lint` with the built-in facts of Apple's
# schema, against `--schema DIR` (Apple's YAML read at run time) and, with
# BEFORE=/path/to/aspen, against an older aspen binary (e.g. one built
# before the facts were built in), all in one hyperfine run so the figures
# compare. Each figure is the wall time of a fresh process.
# Usage: bash benches/lint.sh   (N=30 runs each; needs hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-30}
SCHEMA=${SCHEMA:-../shared/apple-device-management}
cargo build --release --quiet --bin aspen
A=$PWD/target/release/aspen
one=fixtures/real-world/clean/pm-wifi-vpn.mobileconfig
fifty=$(ls fixtures/real-world/clean/*.mobileconfig | head -50 | tr '\n' ' ')
cmds=(-n "lint, 1 file" "$A lint $one"
      -n "lint, 50 files" "$A lint $fifty")
if [ -d "$SCHEMA/mdm/profiles" ]; then
  cmds+=(-n "lint --schema, 1 file" "$A lint --schema $SCHEMA $one"
         -n "lint --schema, 50 files" "$A lint --schema $SCHEMA $fifty")
fi
if [ -n "${BEFORE:-}" ]; then
  cmds+=(-n "before: lint, 1 file" "$BEFORE lint $one"
         -n "before: lint, 50 files" "$BEFORE lint $fifty")
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
# lint exits 1 when it finds errors; the corpus is clean, so any failure is real.
hyperfine -N --warmup 3 --runs "$N" --export-markdown "${OUT:-/dev/stdout}" "${cmds[@]}"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
