#!/usr/bin/env bash
# Times qemu-img and bin/qcow2 side by side on the same images, alternating, and prints ratios
# (qemu-img's time / ours: above 1 means we are faster). It builds its own realistic image: an ext4
# file system filled with real files (mkfs.ext4 -d), then plain, zlib and zstd qcow2 copies of it.
#
#   benchmarks/compare-qemu.sh [--rounds N] [--keep] [--out DIR]
#
# WORK (default benchmarks/work) holds the images; --keep reuses them between runs. --out puts the
# outputs elsewhere (e.g. /dev/shm, to take disk writeback out of the comparison). Timings include
# the JVM's start, as a user sees them. These machines are noisy: quote one run's medians.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
work="${WORK:-$here/work}"
rounds=3
keep=0
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--keep] [--out DIR]" >&2; exit 2 ;;
  esac
done
for tool in qemu-img mkfs.ext4; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install qemu-utils e2fsprogs" >&2; exit 1; }
done
mkdir -p "$work"
out="${out:-$work}"
mkdir -p "$out"

# The realistic image: real files (documentation, a JDK, translations: 600-900 MiB here) in an
# ext4 file system with about a third to spare.
if [ "$keep" = 0 ] || [ ! -f "$work/fs.raw" ]; then
  rm -rf "$work/stage" "$work"/*.qcow2 "$work/fs.raw"
  mkdir -p "$work/stage"
  for d in /usr/share/doc /usr/lib/jvm /usr/share/locale /usr/share/i18n; do
    [ -d "$d" ] && cp -a "$d" "$work/stage/" 2>/dev/null || true
  done
  staged=$(du -sm "$work/stage" | cut -f1)
  truncate -s $((staged * 4 / 3 + 128))M "$work/fs.raw"
  mkfs.ext4 -q -F -d "$work/stage" "$work/fs.raw"
  rm -rf "$work/stage"
  qemu-img convert -O qcow2 "$work/fs.raw" "$work/plain.qcow2"
  qemu-img convert -c -O qcow2 -o compression_type=zlib "$work/fs.raw" "$work/zlib.qcow2"
  qemu-img convert -c -O qcow2 -o compression_type=zstd "$work/fs.raw" "$work/zstd.qcow2"
fi

# Build our tools before timing anything.
"$root/bin/qcow2" --version >/dev/null
(cd "$root" && mvn -q -B -DskipTests -pl benchmarks -am package) >&2
bench_jar="$root/benchmarks/target/benchmarks.jar"

seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
settle() { sync; sleep 1; }

# One comparison: NAME, qemu's command, our command, a check run after both.
compare() {
  local name="$1" qemu="$2" ours="$3" check="$4" q=() o=() i
  for ((i = 0; i < rounds; i++)); do
    # Alternate who goes first, so neither always meets the other's dirty pages.
    if ((i % 2 == 0)); then
      rm -f "$out"/q.* "$out"/o.*; settle; q+=("$(seconds bash -c "$qemu")")
      rm -f "$out"/o.*; settle; o+=("$(seconds bash -c "$ours")")
    else
      rm -f "$out"/q.* "$out"/o.*; settle; o+=("$(seconds bash -c "$ours")")
      rm -f "$out"/q.*; settle; q+=("$(seconds bash -c "$qemu")")
    fi
  done
  bash -c "$check" || { echo "$name: outputs differ" >&2; exit 1; }
  local qm om
  qm=$(printf '%s\n' "${q[@]}" | median)
  om=$(printf '%s\n' "${o[@]}" | median)
  printf '%-34s %10.2f %10.2f %8.2fx\n' "$name" "$qm" "$om" "$(awk -v q="$qm" -v o="$om" 'BEGIN {print q / o}')"
  rm -f "$out"/q.* "$out"/o.*
}

echo "qemu-img: $(qemu-img --version | head -1); rounds: $rounds; outputs in $out"
echo "data: $(du -h --apparent-size "$work/fs.raw" | cut -f1) virtual, $(du -h "$work/fs.raw" | cut -f1) allocated"
printf '%-34s %10s %10s %9s\n' "job" "qemu-img s" "ours s" "speed"
for kind in plain zlib zstd; do
  compare "$kind.qcow2 -> raw" \
    "qemu-img convert -O raw '$work/$kind.qcow2' '$out/q.raw'" \
    "'$root/bin/qcow2' convert -O raw '$work/$kind.qcow2' '$out/o.raw'" \
    "qemu-img convert -O raw '$work/$kind.qcow2' '$out/q.raw' && '$root/bin/qcow2' convert -O raw '$work/$kind.qcow2' '$out/o.raw' && cmp -s '$out/q.raw' '$out/o.raw'"
done
compare "raw -> qcow2" \
  "qemu-img convert -O qcow2 '$work/fs.raw' '$out/q.qcow2'" \
  "'$root/bin/qcow2' convert -O qcow2 '$work/fs.raw' '$out/o.qcow2'" \
  "qemu-img convert -O qcow2 '$work/fs.raw' '$out/q.qcow2' && '$root/bin/qcow2' convert -O qcow2 '$work/fs.raw' '$out/o.qcow2' && qemu-img check -q '$out/o.qcow2' && qemu-img compare -q '$out/o.qcow2' '$work/fs.raw'"
# Scattered 4 KiB writes into a new 8 GiB image: qemu-img bench -w against the same loop in Java.
count=20000
step=$((4096 * 2053))
size=$((8 << 30))
compare "4 KiB writes, stride 8 MiB (x$count)" \
  "qemu-img create -q -f qcow2 '$out/q.qcow2' $size && qemu-img bench -q -w -c $count -s 4096 -S $step -d 1 '$out/q.qcow2'" \
  "java -cp '$bench_jar' dev.qcow2.benchmarks.WriteLoop '$out/o.qcow2' $size $count 4096 $step" \
  "true"
