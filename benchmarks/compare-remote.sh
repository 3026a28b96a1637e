#!/usr/bin/env bash
# Times reading a realistic zstd qcow2 image from a web server and from an S3 store against
# reading it from the local disk, and prints medians and ratios (their time / ours: above 1 means
# we are faster):
#
#   qcow2 convert -O raw http://...   against  curl -o FILE + qcow2 convert -O raw FILE  (target >= 1.0x)
#                                     against  qcow2 convert -O raw FILE alone          (target >= 0.67x, within 1.5x)
#   qemu-img convert -O raw http://...  under a time limit, reporting how far it got
#   qcow2 convert -O raw s3://...     against  the local convert                        (target >= 0.67x)
#   qcow2 hash -a sha256 s3://...     against  the local hash                           (target >= 0.67x)
#
#   benchmarks/compare-remote.sh [--rounds N] [--keep]
#
#   --rounds N  timed rounds per job (default 3); the table shows medians
#   --keep      keep the images afterwards, and re-use them if present (same DATA_MIB and SOURCES)
#
# Environment:
#   BENCH_WORK  work folder (default benchmarks/work/remote, ignored by git)
#   DATA_MIB    MiB of real files in the ext4 image (default 300)
#   SOURCES     folders the files come from (default as compare-qemu.sh's)
#   QEMU_LIMIT  seconds qemu-img may run on the URL (default 60)
#
# nginx (nginx-light) serves the work folder on a loopback port; s3proxy runs standalone from
# qcow2-remote's test classes (dev.qcow2.remote.S3ProxyMain, on the classpath Maven gives, which
# needs the modules compiled: mvn -q -B -o -pl qcow2-remote -am test-compile). Every output is
# compared (cmp) with the local conversion's. The machines this runs on are small and shared:
# quote medians from one run and say so.
set -euo pipefail
# shellcheck source=benchmarks/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

keep=0
parse_args "$@"
need_tools qemu-img:qemu-utils mkfs.ext4:e2fsprogs curl:curl /usr/sbin/nginx:nginx-light mvn:maven \
  java:openjdk-17-jdk-headless

work_folder "$here/work/remote" 300 "/usr/share/doc /usr/lib/jvm /usr/share/locale /usr/share/i18n /usr/share"
qemu_limit="${QEMU_LIMIT:-60}"
qcow2="$root/bin/qcow2"

nginx_pid="" s3_pid="" s3_hold=""
cleanup() {
  # Each step may fail (a server already gone) without skipping the rest.
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  if [ -n "$s3_hold" ]; then kill "$s3_hold" 2>/dev/null || true; fi
  if [ -n "$s3_pid" ]; then kill "$s3_pid" 2>/dev/null || true; wait "$s3_pid" 2>/dev/null || true; fi
  rm -rf "$work/nginx" "$work/s3"
  rm -f "$work"/out-*.raw "$work/dl.qcow2" "$work/qemu-progress.txt"
  clean_work fs.raw zstd.qcow2
  return 0
}
trap cleanup EXIT

# --- The image: an ext4 file system of real files, as compare-qemu.sh makes it, compressed with zstd
ready_images 128 zstd \( -type f -o -type l \)
img="$work/zstd.qcow2"

# --- The servers, on loopback ports --------------------------------------------------------------
rm -rf "$work/nginx" && mkdir -p "$work/nginx"
port=$(free_port)
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$port; root $work; }
}
EOF
/usr/sbin/nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
url="http://127.0.0.1:$port/zstd.qcow2"
for _ in $(seq 100); do curl -sfI "$url" >/dev/null && break; sleep 0.1; done
curl -sfI "$url" >/dev/null || { log "nginx did not start: $(cat "$work/nginx/error.log")"; exit 1; }

log "starting s3proxy"
(cd "$root" && mvn -q -B -o -pl qcow2-remote dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile="$work/classpath.txt" >&2)
cp="$root/qcow2-remote/target/test-classes:$root/qcow2-remote/target/classes:$root/qcow2-core/target/classes:$(cat "$work/classpath.txt")"
rm -f "$work/classpath.txt"
rm -rf "$work/s3" && mkdir -p "$work/s3"
mkfifo "$work/s3/hold"
sleep 100000 >"$work/s3/hold" &
s3_hold=$!
java -cp "$cp" dev.qcow2.remote.S3ProxyMain "$work/s3/store" bench <"$work/s3/hold" >"$work/s3/out.txt" 2>"$work/s3/err.txt" &
s3_pid=$!
for _ in $(seq 600); do grep -q '^endpoint ' "$work/s3/out.txt" 2>/dev/null && break; sleep 0.1; done
grep -q '^endpoint ' "$work/s3/out.txt" || { log "s3proxy did not start: $(cat "$work/s3/err.txt")"; exit 1; }
export AWS_ENDPOINT_URL="$(awk '/^endpoint / { print $2 }' "$work/s3/out.txt")"
export AWS_ACCESS_KEY_ID=qcow2-test-key AWS_SECRET_ACCESS_KEY=qcow2-test-secret AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
s3="s3://bench/zstd.qcow2"
# -f raw -O raw copies the file's bytes as they are: the upload of the image itself.
"$qcow2" convert -f raw -O raw "$img" "$s3" 2>/dev/null

log "warming up: the page cache, our jar, one untimed local conversion"
cat "$img" >/dev/null
seconds "$(q "$qcow2") convert -O raw $(q "$img") $(q "$work/out-local.raw")" >/dev/null

# Median times of two commands run alternately; each output is compared with the local one.
declare -A median_of
pair() { # NAME-A COMMAND-A OUTPUT-A NAME-B COMMAND-B OUTPUT-B
  local at=() bt=() i
  for ((i = 1; i <= rounds; i++)); do
    rm -f "$3" "$6"
    time_pair "$i" "$2" "$5"
    at+=("$ta") bt+=("$tb")
    for o in "$3" "$6"; do
      [ "$o" = - ] || cmp -s "$o" "$work/out-local.raw" || { log "$o differs from the local conversion"; exit 1; }
    done
    log "  round $i: $1 ${at[-1]} s, $4 ${bt[-1]} s"
  done
  median_of[$1]=$(printf '%s\n' "${at[@]}" | median)
  median_of[$4]=$(printf '%s\n' "${bt[@]}" | median)
}

local_convert="$(q "$qcow2") convert -O raw $(q "$img") $(q "$work/out-b.raw")"
log "http: ours against curl -o + local convert"
pair http "$(q "$qcow2") convert -O raw $(q "$url") $(q "$work/out-a.raw")" "$work/out-a.raw" \
  curl+local "curl -sf -o $(q "$work/dl.qcow2") $(q "$url") && $(q "$qcow2") convert -O raw $(q "$work/dl.qcow2") $(q "$work/out-b.raw")" "$work/out-b.raw"
log "http: ours against the local convert alone"
pair http2 "$(q "$qcow2") convert -O raw $(q "$url") $(q "$work/out-a.raw")" "$work/out-a.raw" \
  local "$local_convert" "$work/out-b.raw"
log "s3: convert against the local convert"
pair s3 "$(q "$qcow2") convert -O raw $(q "$s3") $(q "$work/out-a.raw")" "$work/out-a.raw" \
  local2 "$local_convert" "$work/out-b.raw"
log "s3: hash -a sha256 against the local hash"
want=$("$qcow2" hash -a sha256 "$img" | cut -d' ' -f1)
got=$("$qcow2" hash -a sha256 "$s3" 2>/dev/null | cut -d' ' -f1)
[ "$want" = "$got" ] || { log "the hash from s3 differs: $got, not $want"; exit 1; }
pair s3-hash "$(q "$qcow2") hash -a sha256 $(q "$s3")" - \
  local-hash "$(q "$qcow2") hash -a sha256 $(q "$img")" -

log "qemu-img convert -O raw on the URL, for at most $qemu_limit s"
rm -f "$work/out-q.raw"; settle
t0=$(now)
qemu_status=0
timeout "$qemu_limit" qemu-img convert -p -O raw "$url" "$work/out-q.raw" >"$work/qemu-progress.txt" 2>&1 || qemu_status=$?
t1=$(now)
qemu_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
qemu_pct=$(tr '\r' '\n' <"$work/qemu-progress.txt" | grep -o '[0-9.]*/100%' | tail -1 || true)
if [ "$qemu_status" = 0 ]; then
  cmp -s "$work/out-q.raw" "$work/out-local.raw" && qemu_note="finished in $qemu_secs s, output identical" \
    || qemu_note="finished in $qemu_secs s, output DIFFERS"
elif [ "$qemu_status" = 124 ]; then
  qemu_note="stopped by the $qemu_limit s limit at ${qemu_pct:-0/100%}"
else
  qemu_note="failed (status $qemu_status) after $qemu_secs s at ${qemu_pct:-0/100%}: $(tr '\r' '\n' <"$work/qemu-progress.txt" | grep -v '/100%' | tail -1)"
fi

row() { # JOB OURS-KEY THEIRS-KEY TARGET
  awk -v n="$1" -v o="${median_of[$2]}" -v t="${median_of[$3]}" -v g="$4" \
    'BEGIN { printf "%-46s %8.3f %9.3f %7.2fx  %s\n", n, o, t, t / o, g }'
}
echo
echo "$(machine); $rounds round(s), medians"
echo "data: $(du -sm --apparent-size "$work/fs.raw" | cut -f1) MiB ext4 image, zstd qcow2 of $(du -sm --apparent-size "$img" | cut -f1) MiB"
printf '%-46s %8s %9s %8s  %s\n' "job (ours / theirs)" "ours s" "theirs s" ratio target
row "convert http:// / curl -o + local convert" http curl+local ">= 1.00x"
row "convert http:// / local convert" http2 local ">= 0.67x"
row "convert s3:// / local convert" s3 local2 ">= 0.67x"
row "hash -a sha256 s3:// / local hash" s3-hash local-hash ">= 0.67x"
echo "qemu-img convert -O raw http://: $qemu_note"
echo "ratio = their time / our time (above 1: we are faster)"
