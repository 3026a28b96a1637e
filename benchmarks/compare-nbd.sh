#!/usr/bin/env bash
# Serves the same images with qemu-nbd and with `qcow2 serve`, side by side, and times the same
# clients against each: nbdcopy of the whole disk to null: and to a file (plain, zlib and zstd
# qcow2 images), 4 KiB reads with `qemu-img bench -f raw nbd://...` (strided across the disk, as
# qemu-img bench has no random mode), and nbdcopy of a raw file into a served, empty qcow2 image.
# Prints medians and the ratio qemu-nbd time / our time: above 1 means we are faster. Outputs
# are checked: copies equal the raw disk (cmp), written images equal it (qemu-img compare) and
# are clean (qemu-img check).
#
#   benchmarks/compare-nbd.sh [--rounds N] [--keep]
#
#   --rounds N  timed rounds per job (default 3); the table shows medians
#   --keep      keep the images afterwards and re-use them if present (same DATA_MIB, SOURCES)
#
# Environment:
#   BENCH_WORK   work folder (default $TMPDIR or /tmp, then qcow2-compare-nbd)
#   DATA_MIB     MiB of real files to put in the ext4 image (default 300)
#   SOURCES      folders the files come from (default "/usr/share/doc /usr/lib/jvm /usr/share")
#   PORTS        two free loopback ports, qemu-nbd's then ours (default "10932 10931")
#   SHARED       clients each server takes at once, qemu-nbd's and our -e (default 4)
#   BENCH_COUNT  requests of qemu-img bench (default 5000), BENCH_DEPTH its queue depth (16)
#   SERVE_JAVA_OPTS  JVM options for our server (default: the JVM's own, server compiler and
#                all; the launchers' short-job options suit a command, not a server)
#
# Both servers run with -t and -e SHARED; each is warmed up with one untimed copy after it
# starts. The machines this runs on are small and shared: quote medians from one run and say so.
set -euo pipefail
# shellcheck source=benchmarks/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

keep=0
parse_args "$@"
need_tools qemu-img:qemu-utils qemu-nbd:qemu-utils nbdcopy:libnbd-bin mkfs.ext4:e2fsprogs cmp:diffutils \
  ss:iproute2 java:openjdk-17-jdk-headless

work_folder "${TMPDIR:-/tmp}/qcow2-compare-nbd" 300 "/usr/share/doc /usr/lib/jvm /usr/share"
read -r qport oport <<<"${PORTS:-10932 10931}"
shared="${SHARED:-4}"
bench_count="${BENCH_COUNT:-5000}"
bench_depth="${BENCH_DEPTH:-16}"
serve_java_opts="${SERVE_JAVA_OPTS-}"

for p in "$qport" "$oport"; do
  if ss -Hltn "sport = :$p" | grep -q .; then log "port $p is taken: set PORTS"; exit 1; fi
done

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$work/copy.raw" "$work/dst.qcow2" "$work/q.pid" "$work/o.pid" "$work/q.sock" "$work/o.sock"
  clean_work fs.raw plain.qcow2 zlib.qcow2 zstd.qcow2
}
trap cleanup EXIT

# --- The images: an ext4 file system of real files, and qemu-img's three qcow2 copies of it ------
ready_images 64 "plain zlib zstd" -type f
virtual=$(stat -c %s "$work/fs.raw")
# bin/qcow2 builds its jar when the sources are newer: do it now, not while a server is awaited.
"$root/bin/qcow2" --version >/dev/null

# --- Servers ----------------------------------------------------------------------------------
# start WHO IMAGE [OPTIONS...]: serves IMAGE on WHO's port (or, with unix=1, its socket in the
# work folder); returns once the pid file is there.
unix=0
start() {
  local who="$1" img="$2" pidf where
  shift 2
  pidf="$work/$who.pid"
  rm -f "$pidf"
  if [ "$unix" = 1 ]; then
    where=(-k "$work/$who.sock")
  elif [ "$who" = q ]; then
    where=(-b 127.0.0.1 -p "$qport")
  else
    where=(-p "$oport")
  fi
  if [ "$who" = q ]; then
    qemu-nbd -t -e "$shared" "${where[@]}" --pid-file "$pidf" -f qcow2 "$@" "$img" &
  else
    QCOW2_JAVA_OPTS="$serve_java_opts" "$root/bin/qcow2" serve -t -e "$shared" "${where[@]}" --pid-file "$pidf" \
      "$@" "$img" &
  fi
  pids+=($!)
  local i
  for ((i = 0; i < 600; i++)); do
    [ -s "$pidf" ] && return 0
    sleep 0.1
  done
  log "the $who server did not start"; exit 1
}
stop() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
uri() {
  if [ "$unix" = 1 ]; then echo "nbd+unix:///?socket=$work/$1.sock"
  elif [ "$1" = q ]; then echo "nbd://127.0.0.1:$qport/"
  else echo "nbd://127.0.0.1:$oport/"
  fi
}

results=()
# row NAME QEMU-TIMES OUR-TIMES: one line of the table from two lists of seconds.
row() {
  local qm om
  qm=$(tr ' ' '\n' <<<"$2" | median)
  om=$(tr ' ' '\n' <<<"$3" | median)
  results+=("$(awk -v n="$1" -v q="$qm" -v o="$om" 'BEGIN { printf "%-34s %10.3f %8.3f %7.2fx", n, q, o, q / o }')")
}

# time_both NAME COMMAND-WITH-@URI@ [CHECK]: rounds of the command against each server,
# alternating who goes first; CHECK (a shell line) runs after each of them.
time_both() {
  local name="$1" cmd="$2" check="${3:-true}" qt="" ot="" i who t order
  for ((i = 1; i <= rounds; i++)); do
    order="o q"; ((i % 2)) && order="q o"
    for who in $order; do
      t=$(seconds "${cmd//@URI@/$(uri "$who")}")
      bash -c "$check" || { log "$name: the check failed after the $who server's run"; exit 1; }
      if [ "$who" = q ]; then qt="$qt $t"; else ot="$ot $t"; fi
    done
    log "  $name round $i: qemu-nbd ${qt##* } s, ours ${ot##* } s"
  done
  row "$name" "${qt# }" "${ot# }"
}

# --- Reads -------------------------------------------------------------------------------------
for kind in plain zlib zstd; do
  img="$work/$kind.qcow2"
  start q "$img" -r
  start o "$img" -r
  for who in q o; do seconds "nbdcopy $(uri "$who") null:" >/dev/null; done # warm-up
  time_both "nbdcopy $kind.qcow2 -> null:" "nbdcopy @URI@ null:"
  time_both "nbdcopy $kind.qcow2 -> file" "rm -f $(q "$work/copy.raw"); nbdcopy @URI@ $(q "$work/copy.raw")" \
    "cmp -s $(q "$work/fs.raw") $(q "$work/copy.raw")"
  if [ "$kind" = plain ]; then
    # A stride of 104729 blocks (a prime) visits the 4 KiB blocks of the disk in a scattered order.
    time_both "qemu-img bench 4k reads (plain)" \
      "qemu-img bench -f raw -c $bench_count -d $bench_depth -s 4096 -S $((104729 * 4096)) @URI@"
  fi
  stop
done

# qemu-nbd 7.2 answers qemu's NBD client slowly over TCP (milliseconds a request, though not over
# a Unix socket): the same 4 KiB reads over Unix sockets show the servers without that.
unix=1
start q "$work/plain.qcow2" -r
start o "$work/plain.qcow2" -r
for who in q o; do seconds "qemu-img bench -f raw -c 1000 -s 4096 '$(uri "$who")'" >/dev/null; done # warm-up
time_both "qemu-img bench 4k reads (unix)" \
  "qemu-img bench -f raw -c $bench_count -d $bench_depth -s 4096 -S $((104729 * 4096)) '@URI@'"
stop
unix=0

# --- Writes: a raw file into an empty qcow2 image served writable ------------------------------
fresh="rm -f $(q "$work/dst.qcow2"); qemu-img create -q -f qcow2 $(q "$work/dst.qcow2") $virtual"
qt="" ot=""
for ((i = 1; i <= rounds; i++)); do
  order="o q"; ((i % 2)) && order="q o"
  for who in $order; do
    bash -c "$fresh"
    start "$who" "$work/dst.qcow2"
    t=$(seconds "nbdcopy $(q "$work/fs.raw") $(uri "$who")")
    stop
    qemu-img check -q "$work/dst.qcow2" || { log "write: $who left an image qemu-img check finds wrong"; exit 1; }
    qemu-img compare -q -f raw -F qcow2 "$work/fs.raw" "$work/dst.qcow2" ||
      { log "write: $who wrote an image unlike the source"; exit 1; }
    if [ "$who" = q ]; then qt="$qt $t"; else ot="$ot $t"; fi
  done
  log "  nbdcopy raw -> served qcow2 round $i: qemu-nbd ${qt##* } s, ours ${ot##* } s"
done
row "nbdcopy raw -> served qcow2" "${qt# }" "${ot# }"

echo
echo "qemu-nbd against bin/qcow2 serve (JVM options: ${serve_java_opts:-none, the JVM defaults}), both -t -e $shared"
echo "$(qemu-nbd --version | head -1); $(nbdcopy --version | head -1); $(machine)"
echo "data: $((virtual >> 20)) MiB ext4 image, $(du -sm "$work/fs.raw" | cut -f1) MiB of it allocated; $rounds round(s), medians"
printf '%-34s %10s %8s %8s\n' job "qemu-nbd s" "ours s" ratio
printf '%s\n' "${results[@]}"
echo "ratio = qemu-nbd time / our time (above 1: we are faster)"
