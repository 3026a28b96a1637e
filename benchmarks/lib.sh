# shellcheck shell=bash
# What the compare-*.sh benchmarks share, sourced by each after `set -euo pipefail`: options,
# tool checks, the work folder, the ext4 image of real files and its qcow2 copies, timing and
# medians. Each script keeps its own jobs, servers and table; its header comment is its usage.

# The benchmarks folder, and the project's root above it.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

# usage: prints the running script's header comment (its usage text) to stderr and exits 2.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[-1]}" >&2; exit 2; }

# parse_args ARGS...: sets rounds from --rounds N (default 3), and keep=1 from --keep in a script
# that set keep=0 beforehand (in others --keep is unknown). An option it does not know goes to
# the script's own_option, if it has one, which gets the remaining words, sets took to how many it
# used and returns 1 when it does not know the option either: then the usage is printed.
parse_args() {
  local took
  rounds=3
  while [ $# -gt 0 ]; do
    took=1
    case "$1" in
      --rounds) [ $# -ge 2 ] || usage; rounds="$2"; took=2 ;;
      -h|--help) usage ;;
      *)
        if [ "$1" = --keep ] && [ -n "${keep+set}" ]; then
          keep=1
        elif ! { declare -F own_option >/dev/null && own_option "$@"; }; then
          echo "unknown argument: $1" >&2; usage
        fi ;;
    esac
    shift "$took"
  done
  [[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "--rounds wants a positive number: $rounds" >&2; exit 2; }
}

# need_tools TOOL:PACKAGE...: names each TOOL missing from the PATH with the Debian PACKAGE that
# installs it, then exits 1 if any was.
need_tools() {
  local tool missing=0
  for tool; do
    if ! command -v "${tool%%:*}" >/dev/null; then
      echo "${tool%%:*} is missing: install it with apt-get install ${tool#*:}" >&2
      missing=1
    fi
  done
  [ "$missing" = 0 ] || exit 1
}

# work_folder WORK MIB SOURCES: sets work, data_mib and sources from BENCH_WORK, DATA_MIB and
# SOURCES, or these defaults where they are unset, and makes the work folder.
work_folder() {
  work="${BENCH_WORK:-$1}"
  data_mib="${DATA_MIB:-$2}"
  sources="${SOURCES:-$3}"
  mkdir -p "$work"
}

# log WORDS...: prints a progress line to stderr, after log_prefix if the script set one.
log() { printf '%s%s\n' "${log_prefix-}" "$*" >&2; }

# --- The images --------------------------------------------------------------------------------
# make_fs_image HEADROOM FIND-TEST...: makes $work/fs.raw, an ext4 file system (mkfs.ext4 -d) of
# the files FIND-TEST... selects in $sources, whole folders in the order given, until $data_mib
# MiB are spent; a quarter larger than the files plus HEADROOM MiB for the journal. Sets staged
# (MiB of files) and fs_mib.
make_fs_image() {
  local headroom="$1"
  shift
  rm -rf "$work/stage" && mkdir -p "$work/stage"
  log "staging up to $data_mib MiB of files from: $sources"
  # A folder listed inside an earlier one (/usr/share after /usr/share/doc) adds only what is new.
  # shellcheck disable=SC2086
  find $sources "$@" -printf '%s\t%p\n' 2>/dev/null |
    awk -F'\t' -v limit=$((data_mib << 20)) '
      !seen[$2]++ { if (sum + $1 > limit) exit; sum += $1; sub(/^\//, "", $2); print $2 }' \
      >"$work/files.list" || true
  tar -C / --no-recursion --ignore-failed-read -cf - -T "$work/files.list" 2>/dev/null |
    tar -C "$work/stage" -xf -
  staged=$(du -sm "$work/stage" | cut -f1)
  fs_mib=$((staged * 5 / 4 + headroom))
  log "making a $fs_mib MiB ext4 file system with $staged MiB of files"
  rm -f "$work/fs.raw" && truncate -s "${fs_mib}M" "$work/fs.raw"
  mkfs.ext4 -q -F -d "$work/stage" "$work/fs.raw"
  rm -rf "$work/stage" "$work/files.list"
}

# qcow2_copy KIND [NAME]: makes $work/NAME (default KIND.qcow2), qemu-img's qcow2 copy of
# $work/fs.raw: plain, or compressed with KIND (zlib or zstd).
qcow2_copy() {
  local to="$work/${2:-$1.qcow2}"
  if [ "$1" = plain ]; then
    qemu-img convert -O qcow2 "$work/fs.raw" "$to"
  else
    qemu-img convert -c -O qcow2 -o compression_type="$1" "$work/fs.raw" "$to"
  fi
}

# ready_images HEADROOM "KIND..." FIND-TEST...: $work/fs.raw (make_fs_image HEADROOM FIND-TEST...)
# and its copies $work/KIND.qcow2; under --keep re-uses them when they are all there and
# images.stamp says they were made from the same DATA_MIB and SOURCES.
ready_images() {
  local headroom="$1" kinds="$2" stamp="data_mib=$data_mib sources=$sources" kind ready=0
  shift 2
  if [ "$keep" = 1 ] && [ "$(cat "$work/images.stamp" 2>/dev/null)" = "$stamp" ] && [ -f "$work/fs.raw" ]; then
    ready=1
    for kind in $kinds; do [ -f "$work/$kind.qcow2" ] || ready=0; done
  fi
  if [ "$ready" = 1 ]; then
    log "re-using the images in $work (--keep)"
    return 0
  fi
  rm -f "$work/images.stamp"
  make_fs_image "$headroom" "$@"
  log "making the $kinds qcow2 copies with qemu-img"
  for kind in $kinds; do qcow2_copy "$kind"; done
  printf '%s\n' "$stamp" >"$work/images.stamp"
}

# clean_work IMAGE...: for the exit trap; deletes the work folder's scratch files (stage,
# files.list, stderr.txt) and, unless --keep, IMAGE... and images.stamp, then the folder if that
# leaves it empty. Only the files these scripts make are ever deleted, wherever BENCH_WORK points.
clean_work() {
  local image
  rm -rf "$work/stage" "$work/files.list" "$work/stderr.txt"
  if [ "$keep" = 0 ]; then
    for image; do rm -f "$work/$image"; done
    rm -f "$work/images.stamp"
    rmdir "$work" 2>/dev/null || true
  fi
}

# --- Timing ------------------------------------------------------------------------------------
# now: prints the wall-clock time in seconds, with nanoseconds, for elapsed.
now() { date +%s.%N; }

# elapsed START END: prints the seconds from START to END (both from now), with three decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# seconds COMMAND-LINE: runs it with bash, stdout discarded, and prints the wall-clock seconds it
# took (elapsed); when it fails, shows its stderr and exits 1.
seconds() {
  local t0 t1
  t0=$(now)
  if ! bash -c "$1" >/dev/null 2>"$work/stderr.txt"; then
    log "failed: $1"; cat "$work/stderr.txt" >&2; exit 1
  fi
  t1=$(now)
  rm -f "$work/stderr.txt"
  elapsed "$t0" "$t1"
}

# median: prints the median of the numbers on stdin, one a line.
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# settle: flushes the previous run's dirty pages so that they do not slow down the next one, then
# touches PREFAULT_MIB (default 2048) of memory through /dev/shm and frees it. On the virtual
# machines this runs on, memory the guest has not used for a while is handed back to the host, and
# the next job to touch it pays a host page fault for each page: a conversion writing 1.2 GB into
# tmpfs took 2.4 s or 10.7 s (14 s of system time) by that alone. Touched just before, the pages are
# the guest's again for whichever side runs next. PREFAULT_MIB=0 turns this off.
settle() {
  sync
  sleep 1
  local mib="${PREFAULT_MIB:-2048}"
  if [ "$mib" -gt 0 ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    head -c "${mib}M" /dev/zero >/dev/shm/qcow2-bench-prefault 2>/dev/null || true
    rm -f /dev/shm/qcow2-bench-prefault
  fi
}

# time_pair ROUND COMMAND-A COMMAND-B: times both (seconds), settling before each, A first in odd
# rounds and B first in even ones, so that neither always meets the other's cache state; sets ta
# and tb to their seconds.
time_pair() {
  settle
  if (($1 % 2 == 1)); then
    ta=$(seconds "$2"); settle; tb=$(seconds "$3")
  else
    tb=$(seconds "$3"); settle; ta=$(seconds "$2")
  fi
}

# q WORD: prints WORD quoted for a shell command line.
q() { printf '%q' "$1"; }

# free_port: prints a loopback TCP port free at the moment.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# machine: prints the JVM's version line and the number of cores, for a table's heading.
machine() { echo "$(java -version 2>&1 | head -1); $(nproc) cores"; }
