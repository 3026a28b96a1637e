#!/usr/bin/env bash
# Times `qemu-img convert -O raw` against ours (default `bin/qcow2 convert -O raw`) on the same
# realistic images, alternating who goes first, checks that the outputs are identical (cmp), and
# prints the medians and the speed ratio: qemu-img's time / ours, above 1 means we are faster.
#
#   benchmarks/compare-qemu.sh [--rounds N] [--keep] [--out DIR] [--extra] [--convert] [--encrypt]
#                              [--canga]
#
#   --rounds N  timed rounds per image (default 3); the table shows medians
#   --keep      keep the images afterwards, and re-use them if present (and made with the same
#               DATA_MIB and SOURCES); without it they are rebuilt now and deleted at the end
#   --out DIR   where the raw outputs go (default: the work folder); /dev/shm takes the disk's
#               writeback out of the comparison
#   --extra     also time raw -> qcow2 conversion and scattered 4 KiB writes (qemu-img bench -w
#               against dev.qcow2.benchmarks.WriteLoop; needs benchmarks/target/benchmarks.jar)
#   --convert   also time compressed conversion (raw -> qcow2 -c, zlib and zstd, against
#               qemu-img convert -c -m 8 -W, with output sizes), sha1 of the virtual disk (against
#               nbdcopy from qemu-nbd into sha1sum; needs libnbd-bin), and tree-sha256 of a 1 TiB
#               image holding 1 GiB (against sha256sum of 1 GiB)
#   --encrypt   also time LUKS (aes-256-xts, qemu's default cipher) both ways: raw -> encrypted
#               qcow2 and encrypted qcow2 (made by qemu-img) -> raw, against qemu-img convert -m 8 -W;
#               PBKDF2 runs 10 ms so the cipher, not the key derivation, is timed
#   --canga     also time `canga add` of the ext4 image against the Cangallo way: the sha256 of
#               the disk through libguestfs (guestfish checksum-device) plus qemu-img convert -c
#               (needs libguestfs-tools; runs under software emulation when KVM is unusable)
#
# Environment:
#   BENCH_WORK  work folder (default benchmarks/work, ignored by git)
#   DATA_MIB    MiB of real files to put in the ext4 image (default 850)
#   SOURCES     folders the files come from, in order, until DATA_MIB is reached
#               (default "/usr/share/doc /usr/lib/jvm /usr/share/locale /usr/share/i18n /usr/share")
#   KINDS       which qcow2 copies to time against raw (default "plain zlib zstd"; all three are
#               made in any case)
#   OURS_CMD    our converter; SRC and DST are appended (default "bin/qcow2 convert -O raw"). The
#               library alone, without the CLI:
#               OURS_CMD="java -cp benchmarks/target/benchmarks.jar dev.qcow2.benchmarks.RawExport"
#
# The image is an ext4 file system (mkfs.ext4 -d) filled with real files, and three qcow2 copies
# made by qemu-img: plain, zlib-compressed and zstd-compressed. Our times include the JVM's start
# (about 0.1 s with the launchers' class-data-sharing archive): that is what a user sees. The machines this runs on are small and shared:
# quote medians from one run and say so.
set -euo pipefail
# shellcheck source=benchmarks/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

keep=0
out=""
extra=0
convert=0
canga=0
encrypt=0
own_option() {
  case "$1" in
    --out) [ $# -ge 2 ] || usage; out="$2"; took=2 ;;
    --extra) extra=1 ;;
    --convert) convert=1 ;;
    --canga) canga=1 ;;
    --encrypt) encrypt=1 ;;
    *) return 1 ;;
  esac
}
parse_args "$@"
need_tools qemu-img:qemu-utils mkfs.ext4:e2fsprogs cmp:diffutils java:openjdk-17-jdk-headless

work_folder "$here/work" 850 "/usr/share/doc /usr/lib/jvm /usr/share/locale /usr/share/i18n /usr/share"
ours_cmd="${OURS_CMD:-"'$root/bin/qcow2' convert -O raw"}"
read -r -a kinds <<<"${KINDS:-plain zlib zstd}"
out="${out:-$work}"
mkdir -p "$out"

cleanup() {
  rm -f "$out/q.raw" "$out/o.raw" "$out/q.qcow2" "$out/o.qcow2" "$out/sizes.txt" "$work/tib.qcow2" "$work/gib.raw" "$work/luks.qcow2"
  rm -rf "$out/canga-home"
  clean_work fs.raw plain.qcow2 zlib.qcow2 zstd.qcow2
}
trap cleanup EXIT

# Regular files and symlinks; a quarter more than the data for ext4's metadata and free space,
# plus room for the journal.
ready_images 128 "plain zlib zstd" \( -type f -o -type l \)

# --- Warm-up, untimed: page cache, qemu-img's binaries, our jar (bin/qcow2 builds it on first use)
log "warming up: reading the images, one untimed conversion each"
cat "$work/plain.qcow2" "$work/zlib.qcow2" "$work/zstd.qcow2" >/dev/null
seconds "qemu-img convert -O raw $(q "$work/plain.qcow2") $(q "$out/q.raw")" >/dev/null
seconds "$ours_cmd $(q "$work/plain.qcow2") $(q "$out/o.raw")" >/dev/null
cmp -s "$out/q.raw" "$out/o.raw" || { log "plain.qcow2: our output differs from qemu-img's"; exit 1; }
rm -f "$out/q.raw" "$out/o.raw"

# --- qcow2 -> raw ------------------------------------------------------------------------------
virtual=$(stat -c %s "$work/fs.raw")
results=()
for kind in "${kinds[@]}"; do
  img="$work/$kind.qcow2"
  qcmd="qemu-img convert -O raw $(q "$img") $(q "$out/q.raw")"
  ocmd="$ours_cmd $(q "$img") $(q "$out/o.raw")"
  qt=() ot=()
  for ((i = 1; i <= rounds; i++)); do
    rm -f "$out/q.raw" "$out/o.raw"
    time_pair "$i" "$qcmd" "$ocmd"
    qt+=("$ta") ot+=("$tb")
    cmp -s "$out/q.raw" "$out/o.raw" || { log "$kind.qcow2: our output differs from qemu-img's"; exit 1; }
    log "  $kind round $i: qemu-img ${qt[-1]} s, ours ${ot[-1]} s, outputs identical"
    rm -f "$out/q.raw" "$out/o.raw"
  done
  qm=$(printf '%s\n' "${qt[@]}" | median)
  om=$(printf '%s\n' "${ot[@]}" | median)
  results+=("$(awk -v k="$kind.qcow2" -v f="$(stat -c %s "$img")" -v v="$virtual" -v q="$qm" -v o="$om" 'BEGIN {
    printf "%-12s %9.0f %9.0f %11.3f %8.3f %7.2fx %10.0f %10.0f", k, f / 1048576, v / 1048576, q, o, q / o, v / 1e6 / q, v / 1e6 / o }')")
done

echo
echo "qemu-img convert -O raw against: $ours_cmd"
echo "$(qemu-img --version | head -1); $(machine); $rounds round(s), medians; outputs in $out"
echo "data: $(du -sm --apparent-size "$work/fs.raw" | cut -f1) MiB ext4 image, $(du -sm "$work/fs.raw" | cut -f1) MiB of it allocated"
printf '%-12s %9s %9s %11s %8s %8s %10s %10s\n' image "file MiB" "virt MiB" "qemu-img s" "ours s" ratio "qemu MB/s" "ours MB/s"
printf '%s\n' "${results[@]}"
echo "ratio = qemu-img time / our time (above 1: we are faster); MB/s = virtual size / median time"

[ "$extra" = 1 ] || [ "$convert" = 1 ] || [ "$canga" = 1 ] || [ "$encrypt" = 1 ] || exit 0

# --- Extra jobs: raw -> qcow2, and scattered 4 KiB writes ---------------------------------------
bench_jar="$root/benchmarks/target/benchmarks.jar"
if [ ! -f "$bench_jar" ]; then
  log "--extra needs $bench_jar: mvn -q -B -pl benchmarks -am package -DskipTests"; exit 1
fi
qcow2_cmd="${QCOW2_CMD:-"'$root/bin/qcow2'"}"
compare() { # NAME QEMU-COMMAND OUR-COMMAND CHECK-COMMAND
  local qt=() ot=() i
  for ((i = 1; i <= rounds; i++)); do
    rm -f "$out/q.qcow2" "$out/o.qcow2"
    time_pair "$i" "$2" "$3"
    qt+=("$ta") ot+=("$tb")
    bash -c "$4" || { log "$1: check failed"; exit 1; }
    log "  $1 round $i: qemu-img ${qt[-1]} s, ours ${ot[-1]} s"
    sizes=""
    if [ -f "$out/q.qcow2" ] && [ -f "$out/o.qcow2" ]; then
      sizes=$(awk -v q="$(stat -c %s "$out/q.qcow2")" -v o="$(stat -c %s "$out/o.qcow2")" \
        'BEGIN { printf "  size: qemu-img %.1f MiB, ours %.1f MiB (%.3fx)", q / 1048576, o / 1048576, o / q }')
    fi
  done
  rm -f "$out/q.qcow2" "$out/o.qcow2"
  local qm om
  qm=$(printf '%s\n' "${qt[@]}" | median)
  om=$(printf '%s\n' "${ot[@]}" | median)
  awk -v n="$1" -v q="$qm" -v o="$om" -v s="$sizes" 'BEGIN { printf "%-36s %11.3f %8.3f %7.2fx%s\n", n, q, o, q / o, s }'
}
echo
printf '%-36s %11s %8s %8s\n' job "qemu-img s" "ours s" ratio
if [ "$convert" = 1 ]; then
  for codec in zlib zstd; do
    compare "raw -> qcow2 -c $codec" \
      "qemu-img convert -c -m 8 -W -O qcow2 -o compression_type=$codec $(q "$work/fs.raw") $(q "$out/q.qcow2")" \
      "$qcow2_cmd convert -c -W -O qcow2 -o compression_type=$codec $(q "$work/fs.raw") $(q "$out/o.qcow2")" \
      "qemu-img check -q $(q "$out/o.qcow2") && qemu-img compare -q $(q "$out/o.qcow2") $(q "$work/fs.raw")"
  done
  if command -v nbdcopy >/dev/null; then
    for kind in plain zlib; do
      img="$work/$kind.qcow2"
      want=$(nbdcopy -- [ qemu-nbd -f qcow2 "$img" ] - | sha1sum | cut -d' ' -f1)
      compare "sha1 of $kind.qcow2" \
        "nbdcopy -- [ qemu-nbd -f qcow2 $(q "$img") ] - | sha1sum" \
        "$qcow2_cmd hash -a sha1 $(q "$img")" \
        "[ \"\$($qcow2_cmd hash -a sha1 $(q "$img") | cut -d' ' -f1)\" = $want ]"
    done
  else
    log "nbdcopy is missing (apt-get install libnbd-bin): sha1 not timed"
  fi
  # tree-sha256 of 1 TiB holding 1 GiB, against the time to hash 1 GiB.
  head -c 1G /dev/urandom >"$work/gib.raw"
  qemu-img create -q -f qcow2 "$work/tib.qcow2" 1T
  qemu-img convert -n -O qcow2 --target-is-zero "$work/gib.raw" "$work/tib.qcow2" 2>/dev/null ||
    qemu-img dd -f raw -O qcow2 if="$work/gib.raw" of="$work/tib.qcow2" conv=notrunc 2>/dev/null ||
    qemu-io -f qcow2 -c "write -P 0x5a 0 1G" "$work/tib.qcow2" >/dev/null
  compare "tree-sha256 1 TiB/1 GiB vs sha256sum 1 GiB" \
    "sha256sum $(q "$work/gib.raw")" \
    "$qcow2_cmd hash -a tree-sha256 $(q "$work/tib.qcow2")" \
    "true"
  rm -f "$work/tib.qcow2" "$work/gib.raw"
fi
if [ "$canga" = 1 ]; then
  if command -v guestfish >/dev/null; then
    canga_cmd="${CANGA_CMD:-"'$root/bin/canga'"}"
    export LIBGUESTFS_BACKEND=direct
    # Cangallo's way: the sha256 through libguestfs, then qemu-img convert -c into the repository.
    # KVM that is present but broken is common on cloud machines: fall back to emulation then.
    kvm_rc=0
    timeout 2 qemu-system-x86_64 -accel kvm -cpu host -nodefaults -display none -monitor none \
      -serial none -m 64 -no-reboot >/dev/null 2>&1 || kvm_rc=$?
    # Still running when timeout stopped it (124): KVM works.
    [ "$kvm_rc" = 124 ] || export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
    want=$(sha256sum "$work/fs.raw" | cut -d' ' -f1)
    # Both sides write their image to the output folder (tmpfs with --out /dev/shm).
    compare "canga add (vs libguestfs sha256 + convert -c)" \
      "guestfish --ro -a $(q "$work/fs.raw") run : checksum-device sha256 /dev/sda >/dev/null && qemu-img convert -c -O qcow2 $(q "$work/fs.raw") $(q "$out/q.qcow2")" \
      "rm -rf $(q "$out/canga-home") && $canga_cmd --config $(q "$out/canga-home/config.yaml") add $(q "$work/fs.raw") && ln -f $(q "$out/canga-home/default/$want.qcow2") $(q "$out/o.qcow2")" \
      "qemu-img compare -q $(q "$out/o.qcow2") $(q "$work/fs.raw")"
  else
    log "guestfish is missing (apt-get install libguestfs-tools): canga add not timed"
  fi
fi
if [ "$encrypt" = 1 ]; then
  secret="--object secret,id=sec0,data=benchmark"
  luks="-o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10"
  # qemu times PBKDF2 by the thread's CPU clock, whose ticks can read no time at all at first:
  # it then fails with "Unable to get accurate CPU usage" before converting, so try it again.
  qemu_luks() { # ARGS...
    local i
    for i in 1 2 3 4 5; do
      qemu-img "$@" 2>"$out/qemu.err" && return 0
      grep -q "accurate CPU usage" "$out/qemu.err" || { cat "$out/qemu.err" >&2; return 1; }
    done
    return 1
  }
  export -f qemu_luks
  export out
  compare "raw -> qcow2 LUKS aes-256-xts" \
    "qemu_luks convert -m 8 -W $secret -O qcow2 $luks $(q "$work/fs.raw") $(q "$out/q.qcow2")" \
    "$qcow2_cmd convert -W $secret -O qcow2 $luks $(q "$work/fs.raw") $(q "$out/o.qcow2")" \
    "qemu-img check -q $secret --image-opts driver=qcow2,file.filename=$(q "$out/o.qcow2"),encrypt.key-secret=sec0 && qemu-img compare -q $secret --image-opts driver=qcow2,file.filename=$(q "$out/o.qcow2"),encrypt.key-secret=sec0 driver=raw,file.filename=$(q "$work/fs.raw")"
  # The encrypted source is qemu-img's own, made once, untimed.
  qemu_luks convert -m 8 -W $secret -O qcow2 $luks "$work/fs.raw" "$work/luks.qcow2"
  opts="driver=qcow2,file.filename=$(q "$work/luks.qcow2"),encrypt.key-secret=sec0"
  compare "qcow2 LUKS aes-256-xts -> raw" \
    "qemu-img convert -m 8 -W $secret --image-opts $opts -O raw $(q "$out/q.qcow2")" \
    "$qcow2_cmd convert -W $secret --image-opts $opts -O raw $(q "$out/o.qcow2")" \
    "cmp $(q "$out/o.qcow2") $(q "$work/fs.raw")"
  rm -f "$work/luks.qcow2"
fi
[ "$extra" = 1 ] || exit 0
compare "raw -> qcow2" \
  "qemu-img convert -O qcow2 $(q "$work/fs.raw") $(q "$out/q.qcow2")" \
  "$qcow2_cmd convert -O qcow2 $(q "$work/fs.raw") $(q "$out/o.qcow2")" \
  "qemu-img check -q $(q "$out/o.qcow2") && qemu-img compare -q $(q "$out/o.qcow2") $(q "$work/fs.raw")"
# qemu-img bench -w steps by -S through the disk; WriteLoop does the same writes with the library
# (its data is 0xa5 where qemu-img bench writes zeros as data, so only our image's check is run).
count=${WRITE_COUNT:-20000}
step=$((4096 * 2053))
size=$((8 << 30))
compare "4 KiB writes, stride 8 MiB (x$count)" \
  "qemu-img create -q -f qcow2 $(q "$out/q.qcow2") $size && qemu-img bench -q -w -c $count -s 4096 -S $step -d 1 $(q "$out/q.qcow2")" \
  "java -cp $(q "$bench_jar") dev.qcow2.benchmarks.WriteLoop $(q "$out/o.qcow2") $size $count 4096 $step" \
  "qemu-img check -q $(q "$out/o.qcow2")"
