# Sourced by bin/qcow2 and bin/canga. A command's start is part of what a user times, so the fast
# path (jar fresh, archive fresh) starts one process besides the JVM: the find that checks the
# jar's freshness. No $(...) subshells there.

# JVM options for short command-line jobs, measured on qemu-img-sized conversions: the client
# compiler warms up sooner, the serial collector starts no GC threads, and the heavy lifting
# (zlib, zstd, I/O) is native anyway. QCOW2_JAVA_OPTS replaces them (set it empty for none).
# java.net.http reads a response into buffers of jdk.httpclient.bufsize (16 KiB by default), each
# one a socket read and a hand-over between its threads: 256 KiB cut the system time of a remote
# convert by about a third and doubled the rate of one connection reading 4 MiB ranges from nginx
# on loopback (measured 240 -> 435 MB/s once warm).
qcow2_http_java_opts="-Djdk.httpclient.bufsize=262144"
qcow2_default_java_opts="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData $qcow2_http_java_opts"
# Hashing needs the server compiler: only it turns SHA-1 and SHA-256 into the CPU's SHA
# instructions (measured: sha1 of a 1.6 GiB disk 13.4 s with the client compiler alone, 3.7 s
# with both). Verbs that hash get tiered compilation.
qcow2_hashing_java_opts="-XX:+UseSerialGC -XX:-UsePerfData $qcow2_http_java_opts"

# Jobs with a secret too: the AES instructions are the server compiler's intrinsics, and the client
# compiler's XTS loops cost twice the CPU (measured: decrypting a 653 MiB LUKS image took 5.0 s of
# user time with the client compiler alone, 2.8 s with both).
# Uploads to S3 hash every byte twice: the SDK signs the payload with SHA-256 (over http endpoints)
# and each part carries our Content-MD5. Without the server compiler's SHA intrinsics a 603 MiB
# upload took 9.5 s of user time, 3.7 s with it: so qcow2 convert to an s3:// destination (its last
# word that is not an option) and canga push get the hashing options too.
# Sets qcow2_java_opts to the default JVM options for: qcow2_pick_java_opts COMMAND-SET ARGS...
# (the verb is the first word that is neither an option nor the value of --config), and
# qcow2_cds_archive to the archive it starts from (see qcow2_pick_cds_opts): "-remote" for a command
# that names a remote object or (canga) talks to a remote, else empty.
qcow2_pick_java_opts() {
  local set="$1" verb="" last="" skip=0 secret=0 a
  shift
  qcow2_cds_archive=""
  for a in "$@"; do
    case "$a" in
      secret,* | --object=secret,*) secret=1 ;;
      http://* | https://* | s3://* | *=http://* | *=https://* | *=s3://*) qcow2_cds_archive="-remote" ;;
    esac
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case "$a" in
      -*) ;;
      *) last="$a" ;;
    esac
    [ -n "$verb" ] && continue
    case "$a" in
      --config) skip=1 ;;
      -*) ;;
      *) verb="$a" ;;
    esac
  done
  case "$set:$verb" in
    canga:push | canga:pull | canga:fetch) qcow2_cds_archive="-remote" ;;
  esac
  if [ "$secret" = 1 ]; then
    qcow2_java_opts="$qcow2_hashing_java_opts"
    return
  fi
  case "$set:$verb" in
    qcow2:hash | canga:add | canga:build | canga:import | canga:pull | canga:fetch | canga:base | canga:layer | canga:deploy | canga:push)
      qcow2_java_opts="$qcow2_hashing_java_opts" ;;
    qcow2:convert)
      case "$last" in
        s3://*) qcow2_java_opts="$qcow2_hashing_java_opts" ;;
        *) qcow2_java_opts="$qcow2_default_java_opts" ;;
      esac ;;
    *) qcow2_java_opts="$qcow2_default_java_opts" ;;
  esac
}

# (Re)builds qcow2-tools/target/qcow2-tools.jar when it is missing or older than any file under
# qcow2-core/src, qcow2-remote/src, qcow2-nbd/src, qcow2-tools/src or any pom.xml.
qcow2_tools_jar_fresh() {
  local root="$1" jar="$1/qcow2-tools/target/qcow2-tools.jar"
  [[ -f "$jar" ]] && [[ -z "$(find "$root/qcow2-core/src" "$root/qcow2-remote/src" "$root/qcow2-nbd/src" "$root/qcow2-tools/src" \
    "$root/pom.xml" "$root"/*/pom.xml -newer "$jar" -print -quit 2>/dev/null)" ]]
}

qcow2_tools_jar() {
  local root="$1"
  qcow2_tools_jar_fresh "$root" && return 0
  mkdir -p "$root/qcow2-tools/target"
  # One build at a time: a second launcher waits, then finds the jar fresh.
  exec 9>"$root/qcow2-tools/target/.launcher-build.lock"
  command -v flock >/dev/null && flock 9
  if ! qcow2_tools_jar_fresh "$root"; then
    echo "Building $root/qcow2-tools/target/qcow2-tools.jar ..." >&2
    if ! (cd "$root" && mvn -q -B -DskipTests -pl qcow2-tools -am package) 1>&2
    then
      echo "build failed; run: cd $root && mvn -B -DskipTests -pl qcow2-tools -am package" >&2
      exit 1
    fi
  fi
  exec 9>&-
}

# Class-data sharing: a start maps the classes a training run archived (CdsTraining runs the common
# verbs) instead of loading, parsing and verifying them, which is about half of a short command's
# start-up. The archive sits beside the jar and is remade when the jar or the JVM is newer; where
# it cannot be made (a read-only tree, a JVM without the feature) commands run without it.
# QCOW2_CDS=off turns it off. JVM log lines go to stderr, never into a command's output.
# Commands on remote objects start from a second archive, qcow2-tools-remote.jsa, whose training
# also reads over http:// and s3:// and uploads to S3 (CdsTraining --remote): an s3:// command loads
# about 3800 classes, 1700 of them the AWS SDK's (measured: info s3://... 0.75 s without them
# archived, 0.55 s with). Local commands keep the small archive: this JVM relocates an archive at
# every start, which took 12 ms longer for the archive of both (29 ms, against 17 ms).
# Sets qcow2_cds_opts for: qcow2_pick_cds_opts ROOT [-remote].
qcow2_pick_cds_opts() {
  local root="$1" kind="${2:-}" jar="$1/qcow2-tools/target/qcow2-tools.jar"
  local jsa="$1/qcow2-tools/target/qcow2-tools$kind.jsa"
  local logs="-Xlog:disable -Xlog:all=warning:stderr -Xlog:cds=off -Xlog:cds+dynamic=off"
  qcow2_cds_opts=""
  [[ "${QCOW2_CDS:-on}" != off ]] || return 0
  # The java that will run, found as exec finds it; -nt follows its symbolic links.
  local java_bin="" d
  local IFS=:
  for d in $PATH; do
    if [[ -x "${d:-.}/java" && ! -d "${d:-.}/java" ]]; then java_bin="${d:-.}/java"; break; fi
  done
  unset IFS
  [[ -n "$java_bin" ]] || return 0
  if [[ ! -f "$jsa" || "$jar" -nt "$jsa" || "$java_bin" -nt "$jsa" ]]; then
    # A failed training leaves a marker, so that it is not retried at every start.
    [[ -f "$jsa.failed" && "$jsa.failed" -nt "$jar" ]] && return 0
    [[ -w "$root/qcow2-tools/target" ]] || return 0
    local tmp="$jsa.$$"
    # shellcheck disable=SC2086
    if java -XX:ArchiveClassesAtExit="$tmp" $logs $qcow2_default_java_opts \
        -cp "$jar" dev.qcow2.tools.CdsTraining ${kind:+--remote} </dev/null >/dev/null 2>&1 && [[ -s "$tmp" ]]; then
      mv -f "$tmp" "$jsa"
      rm -f "$jsa.failed"
    else
      rm -f "$tmp"
      touch "$jsa.failed"
      return 0
    fi
  fi
  qcow2_cds_opts="-XX:SharedArchiveFile=$jsa $logs"
}

# Runs the jar's COMMAND-SET with ARGS: qcow2_run ROOT COMMAND-SET ARGS...
qcow2_run() {
  local root="$1" set="$2"
  shift 2
  qcow2_tools_jar "$root"
  qcow2_pick_java_opts "$set" "$@"
  qcow2_pick_cds_opts "$root" "$qcow2_cds_archive"
  # shellcheck disable=SC2086
  exec java ${QCOW2_JAVA_OPTS-$qcow2_java_opts} $qcow2_cds_opts -jar "$root/qcow2-tools/target/qcow2-tools.jar" "$set" "$@"
}
