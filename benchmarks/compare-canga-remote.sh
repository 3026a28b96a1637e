#!/usr/bin/env bash
# Times `canga push` and `canga pull` of a realistic image's compressed form against the usual
# single-blob tools on the same bytes, on loopback:
#   OCI: docker-registry (distribution 2.8) against `skopeo copy` of an OCI layout holding that
#        file as its one layer (push: layout -> registry; pull: registry -> layout);
#   S3:  s3proxy (filesystem-nio2, authorization off, run standalone by
#        dev.qcow2.remote.S3ProxyMain --no-auth from the test classpath) against one `curl -T` PUT and
#        one `curl -o` GET.
# Prints the medians and the ratio (their time / ours: above 1 means we are faster).
#
#   benchmarks/compare-canga-remote.sh [--rounds N]
#
# Environment:
#   BENCH_WORK  work folder (default benchmarks/work/remote, ignored by git)
#   DATA_MIB    MiB of real files in the ext4 image (default 128)
#   SOURCES     folders the files come from (default "/usr/share/doc /usr/lib/jvm /usr/share")
#
# skopeo runs with --preserve-digests (and --dest-oci-accept-uncompressed-layers on the pull), so
# that it sends and keeps the blob verbatim as we do instead of gzipping it.
# The image: an ext4 file system (mkfs.ext4 -d) of real files converted with
# `qemu-img convert -c -o compression_type=zstd`, added with `canga add` (which keeps it as it
# is); the file canga stores is the blob every tool sends. Our pull includes `canga fetch` and
# the content sha256 check of the image; skopeo checks the blob's digest, curl checks nothing.
# Our times include the JVM's start. Each push goes to an empty store (a fresh registry or a
# fresh key prefix), so nothing is skipped as already there.
set -euo pipefail
# shellcheck source=benchmarks/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
parse_args "$@"
need_tools qemu-img:qemu-utils mkfs.ext4:e2fsprogs skopeo:skopeo docker-registry:docker-registry curl:curl \
  java:openjdk-17-jdk-headless mvn:maven sha256sum:coreutils python3:python3

work_folder "$here/work/remote" 128 "/usr/share/doc /usr/lib/jvm /usr/share"
rm -rf "$work"
mkdir -p "$work"
log_prefix="== "
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

log "compiling the test classpath (offline)"
(cd "$root" && mvn -B -q -o -pl qcow2-tools -am test-compile dependency:build-classpath \
  -Dmdep.outputFile="$work/cp.txt" -Dmdep.includeScope=test >&2)
cp="$root/qcow2-tools/target/test-classes:$root/qcow2-remote/target/test-classes:$root/qcow2-tools/target/classes:$(cat "$work/cp.txt")"
canga() { java -cp "$cp" -Daws.disableEc2Metadata=true dev.qcow2.tools.Main canga "$@"; }

# Readable regular files below 64 MiB, on the sources' own file systems.
make_fs_image 64 -xdev -type f -readable -size -64M
qcow2_copy zstd fs.qcow2
rm -f "$work/fs.raw"

home="$work/a"
mkdir -p "$home"
cfg="$home/config.yaml"
sha=$(canga --config "$cfg" add "$work/fs.qcow2" --tag fs | sed -n 's/^Image SHA256: //p')
blob="$home/default/$sha.qcow2"
size=$(stat -c %s "$blob")
digest=$(sha256sum "$blob" | cut -c1-64)
log "image: ${staged} MiB of files, blob ${size} bytes ($((size >> 20)) MiB)"

registry_pid=""
start_registry() { # a fresh registry; sets $port
  local d="$work/registry-$RANDOM$RANDOM"
  mkdir -p "$d"
  port=$(free_port)
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$d/data" "$port" > "$d/config.yml"
  docker-registry serve "$d/config.yml" > "$d/log" 2>&1 &
  registry_pid=$!
  pids+=("$registry_pid")
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && return 0; sleep 0.1; done
  echo "docker-registry did not start" >&2; exit 1
}
stop_registry() { kill "$registry_pid"; wait "$registry_pid" 2>/dev/null || true; rm -rf "$work"/registry-*; }
remote_home() { # $1 dir, $2 url: a canga home whose remote "r" is $2
  mkdir -p "$1"
  printf 'default_repo: default\nrepos:\n    default:\n        type: local\n        path: %s\n    r:\n        type: remote\n        path: %s\n        url: %s\n' \
    "$1/default" "$1/r" "$2" > "$1/config.yaml"
}

# An OCI layout holding the blob as its one layer, for skopeo.
layout="$work/layout"
mkdir -p "$layout/blobs/sha256"
ln "$blob" "$layout/blobs/sha256/$digest"
printf '{}' > "$layout/blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$digest" "$size")
mdigest=$(printf '%s' "$manifest" | sha256sum | cut -c1-64)
printf '%s' "$manifest" > "$layout/blobs/sha256/$mdigest"
printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"fs"}}]}' \
  "$mdigest" "${#manifest}" > "$layout/index.json"

log "starting s3proxy"
s3dir="$work/s3"
mkdir -p "$s3dir"
coproc S3PROXY { exec java -cp "$cp" dev.qcow2.remote.S3ProxyMain "$s3dir" bench --no-auth 2>"$s3dir/log"; }
pids+=("$S3PROXY_PID")
s3endpoint=""
while read -r -t 120 word value <&"${S3PROXY[0]}"; do # it prints "s3proxy started in N ms" first
  [ "$word" = endpoint ] && { s3endpoint="$value"; break; }
done
[ -n "$s3endpoint" ] || { echo "s3proxy did not start: $(cat "$s3dir/log")" >&2; exit 1; }
s3port="${s3endpoint##*:}"
export AWS_ENDPOINT_URL="$s3endpoint" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

declare -A t
time_ours() { # $1 key prefix, $2 remote url, $3 name: push from a home, then fetch and pull into another
  remote_home "$work/$3a" "$2"
  sed -i "s|^repos:|repos:\n    src:\n        type: local\n        path: $home/default|" "$work/$3a/config.yaml"
  s=$(now); canga --config "$work/$3a/config.yaml" push "src:$sha" r >/dev/null 2>&1; e=$(now)
  t[$1_push_ours]+="$(elapsed "$s" "$e") "
  remote_home "$work/$3b" "$2"
  s=$(now); canga --config "$work/$3b/config.yaml" fetch r >/dev/null 2>&1
  canga --config "$work/$3b/config.yaml" pull "r:$sha" >/dev/null 2>&1; e=$(now)
  t[$1_pull_ours]+="$(elapsed "$s" "$e") "
  cmp "$blob" "$work/$3b/r/$sha.qcow2"
  rm -rf "$work/$3a" "$work/$3b"
}
for r in $(seq "$rounds"); do
  log "round $r of $rounds"
  # OCI, ours: push to a fresh registry, then fetch and pull into a fresh home.
  start_registry
  time_ours oci "oci://127.0.0.1:$port/bench/canga" "o$r"
  stop_registry
  # OCI, skopeo: the same with the layout.
  start_registry
  s=$(now); skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$layout:fs" "docker://127.0.0.1:$port/bench/skopeo:fs"; e=$(now)
  t[oci_push_skopeo]+="$(elapsed "$s" "$e") "
  s=$(now); skopeo copy -q --preserve-digests --dest-oci-accept-uncompressed-layers --src-tls-verify=false "docker://127.0.0.1:$port/bench/skopeo:fs" "oci:$work/sk$r:fs"; e=$(now)
  t[oci_pull_skopeo]+="$(elapsed "$s" "$e") "
  cmp "$blob" "$work/sk$r/blobs/sha256/$digest"
  stop_registry
  # S3, ours and curl, each to a prefix of its own.
  time_ours s3 "s3://bench/canga$r" "s$r"
  s=$(now); curl -fsS -T "$blob" "http://127.0.0.1:$s3port/bench/curl$r/$sha.qcow2"; e=$(now)
  t[s3_push_curl]+="$(elapsed "$s" "$e") "
  s=$(now); curl -fsS -o "$work/curl$r.qcow2" "http://127.0.0.1:$s3port/bench/curl$r/$sha.qcow2"; e=$(now)
  t[s3_pull_curl]+="$(elapsed "$s" "$e") "
  cmp "$blob" "$work/curl$r.qcow2"
  rm -rf "$work"/sk$r "$work"/curl$r.qcow2 "$s3dir"/store/bench/*
done

printf '\nblob: %s MiB (zstd qcow2 of an ext4 image holding %s MiB of files); medians of %s rounds, seconds\n\n' \
  "$((size >> 20))" "$staged" "$rounds"
printf '| %-22s | %8s | %8s | %6s |\n' "operation" "ours" "theirs" "ratio"
printf '|%s|%s|%s|%s|\n' "------------------------" "----------" "----------" "--------"
row() { # $1 label, $2 ours key, $3 theirs key
  local o th
  o=$(tr ' ' '\n' <<<"${t[$2]}" | grep . | median)
  th=$(tr ' ' '\n' <<<"${t[$3]}" | grep . | median)
  printf '| %-22s | %8s | %8s | %5.2fx |\n' "$1" "$o" "$th" "$(python3 -c "print($th / $o)")"
}
row "OCI push vs skopeo" oci_push_ours oci_push_skopeo
row "OCI pull vs skopeo" oci_pull_ours oci_pull_skopeo
row "S3 push vs curl -T" s3_push_ours s3_push_curl
row "S3 pull vs curl -o" s3_pull_ours s3_pull_curl
