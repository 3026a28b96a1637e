#!/usr/bin/env bash
# Fuzzes every target in turn for a time budget and prints, per target, the executions, the
# executions per second and the crashes found.
#
#   fuzz/run.sh [SECONDS] [Class#method ...]     # default: 300 seconds each, every target
#
# One target at a time (each fuzzer uses one core). A crash stops that target's run; Jazzer
# writes the input to src/test/resources/dev/qcow2/fuzz/<Class>Inputs/<method>/crash-<sha1>,
# where a plain `mvn verify` replays it from then on: rename it for the defect, fix the defect,
# and commit both. The corpus grown while fuzzing stays in .cifuzz-corpus/ (git-ignored).
# Logs go to target/fuzz-logs/.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
seconds="${1:-300}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(
    HeaderFuzzTest#parseArbitraryHeader
    HeaderFuzzTest#openSeedWithMutatedHeader
    ImageReadFuzzTest#openAndReadArbitraryBytes
    ImageReadFuzzTest#readSeedWithMutatedTables
    ClusterCodecFuzzTest#decodeDeflateArbitraryBytes
    ClusterCodecFuzzTest#decodeZstdArbitraryBytes
    ClusterCodecFuzzTest#decodeDamagedStream
    SnapshotTableFuzzTest#openSeedWithMutatedSnapshotTable
    BitmapDirectoryFuzzTest#openSeedWithMutatedBitmapDirectory
    ImageCheckFuzzTest#checkAndRepairArbitraryBytes
    ImageCheckFuzzTest#checkAndRepairMutatedSeed
    ImageWriteFuzzTest#writeIntoArbitraryImage
    ImageWriteFuzzTest#writeIntoSeed
    RepositoryYamlFuzzTest#parseRepositoryIndex
    RepositoryYamlFuzzTest#parseCangafile
  )
fi

logs="$here/target/fuzz-logs"
mkdir -p "$logs"
inputs="$here/src/test/resources/dev/qcow2/fuzz"
printf '%-62s %8s %12s %9s %8s\n' target seconds executions exec/s crashes
for t in "${targets[@]}"; do
  class="${t%%#*}"
  method="${t#*#}"
  log="$logs/$class-$method.log"
  crashdir="$inputs/${class}Inputs/$method"
  before=$(ls "$crashdir"/crash-* 2>/dev/null | wc -l)
  start=$(date +%s)
  # Arguments after the annotation's are libFuzzer's last word: the budget replaces maxDuration;
  # an input that runs for 20 s is a hang (a finding); the final stats give the counts.
  (cd "$root" && JAZZER_FUZZ=1 mvn -o -B -pl fuzz -am verify \
      -Dsurefire.failIfNoSpecifiedTests=false -Dtest="$t" \
      -Djazzer.internal.arg.0=fake_argv0 \
      -Djazzer.internal.arg.1=-max_total_time="$seconds" \
      -Djazzer.internal.arg.2=-timeout=20 \
      -Djazzer.internal.arg.3=-print_final_stats=1 >"$log" 2>&1)
  elapsed=$(( $(date +%s) - start ))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  after=$(ls "$crashdir"/crash-* "$crashdir"/timeout-* 2>/dev/null | wc -l)
  crashes=$(( after - before ))
  if [ -z "$runs" ] && grep -q 'BUILD FAILURE' "$log" && [ "$crashes" -eq 0 ]; then
    crashes="error (see $log)"
  fi
  printf '%-62s %8s %12s %9s %8s\n' "$t" "$elapsed" "${runs:-?}" "${rate:-?}" "$crashes"
done
