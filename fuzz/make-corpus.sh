#!/usr/bin/env bash
# Makes the seed images and seed corpora of the fuzz targets from qemu-made images of every kind:
# versions 2 and 3, cluster sizes from 512 bytes to 64 KiB, refcount widths 1 to 64 bits,
# extended L2, zlib and zstd compressed clusters, a backing file name, internal snapshots
# (qemu-img snapshot -c) and persistent bitmaps (qemu-img bitmap --add).
#
#   fuzz/make-corpus.sh            # regenerate everything (needs qemu-img, qemu-io, python3, gzip)
#
# Output, all where the targets or Jazzer look:
#   src/test/resources/dev/qcow2/fuzz/seeds/<kind>.qcow2.gz   committed; the structured targets
#       mutate these (gzipped: a 64 KiB-cluster image is ~200 KiB of mostly zeros, <2 KiB gzipped)
#   src/test/resources/dev/qcow2/fuzz/<Class>Inputs/<method>/  committed; the raw-byte targets'
#       regression inputs: only the images up to 24 KiB, so that CI stays fast
#   .cifuzz-corpus/dev.qcow2.fuzz.<Class>/<method>/  git-ignored; every image, for
#       fuzzing runs only (Jazzer adds this folder to the corpus when JAZZER_FUZZ is set)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
res="$here/src/test/resources/dev/qcow2/fuzz"
gen="$here/.cifuzz-corpus"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || { echo "needs qemu-img and qemu-io" >&2; exit 1; }

# kind | qemu-img create -o options | virtual size | qemu-io commands (;-separated) | extra step
kinds=$(cat <<'EOF'
v2-512|compat=0.10,cluster_size=512|256K|write -P 0x11 0 5000;write -z 65536 4096;write -P 0x22 130000 3000|
v3-512-rc1|cluster_size=512,refcount_bits=1|256K|write -P 0x33 512 2048;write -P 0x44 100000 1000|
v3-4k|cluster_size=4096|1M|write -P 0x11 0 9000;write -z 200000 8192;write -P 0x22 600000 4096;discard 0 4096|
v3-4k-rc64|cluster_size=4096,refcount_bits=64|1M|write -P 0x55 8192 8192|
v3-4k-lazy|cluster_size=4096,lazy_refcounts=on|1M|write -P 0x66 0 4096;write -P 0x67 512000 4096|
v3-64k|cluster_size=65536|4M|write -P 0x11 0 70000;write -z 1114112 65536;write -P 0x22 3000000 1000|
v3-16k-extl2|cluster_size=16384,extended_l2=on|1M|write -P 0x11 0 1024;write -P 0x22 5120 2048;write -z 20480 2048;write -P 0x33 65536 16384|
v3-4k-zlib|cluster_size=4096,compression_type=zlib|256K|write -c -P 0x11 0 4096;write -c -P 0x12 8192 4096;write -P 0x13 16384 4096|
v3-4k-zstd|cluster_size=4096,compression_type=zstd|256K|write -c -P 0x21 0 4096;write -c -P 0x22 12288 4096;write -P 0x23 16384 4096|
v2-4k-zlib|compat=0.10,cluster_size=4096|256K|write -c -P 0x31 4096 4096;write -c -P 0x32 8192 4096|
v3-64k-zstd|cluster_size=65536,compression_type=zstd|1M|write -c -P 0x41 0 65536;write -c -P 0x42 131072 65536|
v3-4k-backing|cluster_size=4096,backing_file=base.qcow2,backing_fmt=qcow2|1M|write -P 0x11 4096 4096|backing
v3-4k-snapshots|cluster_size=4096|512K|write -P 0x11 0 8192|snapshots
v2-512-snapshots|compat=0.10,cluster_size=512|128K|write -P 0x11 0 2048|snapshots
v3-4k-bitmaps|cluster_size=4096|512K|write -P 0x11 0 8192|bitmaps
EOF
)

mkdir -p "$res/seeds"
rm -f "$res/seeds/"*.qcow2.gz
while IFS='|' read -r kind opts size io extra; do
  img="$work/$kind.qcow2"
  if [ "$extra" = backing ]; then
    qemu-img create -q -f qcow2 -o cluster_size=4096 "$work/base.qcow2" "$size"
    (cd "$work" && qemu-img create -q -f qcow2 -o "$opts" "$kind.qcow2" "$size")
  else
    qemu-img create -q -f qcow2 -o "$opts" "$img" "$size"
  fi
  IFS=';' read -ra cmds <<<"$io"
  args=()
  for c in "${cmds[@]}"; do args+=(-c "$c"); done
  qemu-io -f qcow2 "$img" "${args[@]}" >/dev/null
  case "$extra" in
    snapshots)
      qemu-img snapshot -c first "$img"
      qemu-io -f qcow2 "$img" -c "write -P 0x77 0 1024" >/dev/null
      qemu-img snapshot -c second-with-a-longer-name "$img"
      ;;
    bitmaps)
      qemu-img bitmap --add "$img" b0
      qemu-img bitmap --add -g 65536 "$img" b1
      qemu-img bitmap --add --disable "$img" b2
      ;;
  esac
  qemu-img check -q "$img"
  # The overlay travels without its base, as an image from a stranger would.
  rm -f "$work/base.qcow2"
  gzip -9 -n -c "$img" >"$res/seeds/$kind.qcow2.gz"
done <<<"$kinds"
(cd "$res/seeds" && ls -- *.qcow2.gz | sed "s/\.gz$//") >"$work/index.txt"
mv "$work/index.txt" "$res/seeds/index.txt"

# Raw-byte targets: every image seeds the fuzzing corpus; the small ones are committed.
raw_targets="ImageReadFuzzTest/openAndReadArbitraryBytes ImageCheckFuzzTest/checkAndRepairArbitraryBytes HeaderFuzzTest/parseArbitraryHeader"
for t in $raw_targets; do
  mkdir -p "$gen/dev.qcow2.fuzz.$t" "$res/${t%%/*}Inputs/${t#*/}"
  for img in "$work"/*.qcow2; do
    name="$(basename "$img")"
    cp "$img" "$gen/dev.qcow2.fuzz.$t/$name"
    if [ "$(stat -c %s "$img")" -le 24576 ]; then
      cp "$img" "$res/${t%%/*}Inputs/${t#*/}/$name"
    fi
  done
done

# Codec targets: the compressed clusters qemu wrote, cut out of the compressed images.
extract_clusters() {  # image, output folder
  python3 - "$1" "$2" <<'PY'
import os, struct, sys
image, out = sys.argv[1], sys.argv[2]
data = open(image, 'rb').read()
cluster_bits, = struct.unpack_from('>I', data, 20)
l1_size, l1_off = struct.unpack_from('>IQ', data, 36)
shift = 62 - (cluster_bits - 8)
n = 0
for i in range(l1_size):
    l2 = struct.unpack_from('>Q', data, l1_off + 8 * i)[0] & 0x00fffffffffffe00
    if not l2:
        continue
    for j in range((1 << cluster_bits) // 8):
        e = struct.unpack_from('>Q', data, l2 + 8 * j)[0]
        if not e & (1 << 62):
            continue
        host = e & ((1 << shift) - 1)
        sectors = ((e >> shift) & ((1 << (cluster_bits - 8)) - 1)) + 1
        size = sectors * 512 - (host & 511)
        name = os.path.join(out, '%s-%d-cluster%d' % (os.path.basename(image), cluster_bits, n))
        open(name, 'wb').write(data[host:host + size])
        n += 1
PY
}
for codec in Deflate Zstd; do
  t="ClusterCodecFuzzTest/decode${codec}ArbitraryBytes"
  mkdir -p "$gen/dev.qcow2.fuzz.$t" "$res/${t%%/*}Inputs/${t#*/}"
  rm -f "$res/${t%%/*}Inputs/${t#*/}/"*.qcow2-*
  case $codec in Deflate) images="v3-4k-zlib v2-4k-zlib" ;; Zstd) images="v3-4k-zstd v3-64k-zstd" ;; esac
  for i in $images; do
    extract_clusters "$work/$i.qcow2" "$gen/dev.qcow2.fuzz.$t"
    extract_clusters "$work/$i.qcow2" "$res/${t%%/*}Inputs/${t#*/}"
  done
done

# The repository index target: Cangallo's own index, as the qcow2-tools tests keep it.
index="$here/../qcow2-tools/src/test/resources/dev/qcow2/tools/canga/cangallo-index.yaml"
if [ -f "$index" ]; then
  mkdir -p "$res/RepositoryYamlFuzzTestInputs/parseRepositoryIndex"
  cp "$index" "$res/RepositoryYamlFuzzTestInputs/parseRepositoryIndex/"
fi

echo "seeds: $(ls "$res/seeds" | grep -c gz) images, $(du -sh "$res/seeds" | cut -f1) committed"
echo "committed inputs: $(find "$res" -path '*Inputs*' -type f | wc -l) files, $(du -shc "$res"/*Inputs | tail -1 | cut -f1)"
echo "fuzzing corpus (git-ignored): $(find "$gen" -type f | wc -l) files in $gen"
