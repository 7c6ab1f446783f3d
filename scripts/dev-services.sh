#!/usr/bin/env bash
# Runs the distributed mode's backing services for tests and development, all on 127.0.0.1, all state
# under one directory DIR (default .cache/services): one PostgreSQL (Debian's, 15) and one single-node
# Ceph — a mon, an OSD on memstore (RAM, SEGREC_MEMSTORE_BYTES, default 1 GiB) and a radosgw (beast, S3)
# with a fixed S3 user; no auth inside the cluster, pool size 1.
#   bash scripts/dev-services.sh start  [DIR]   start (or, when already running, check) and write DIR/env
#   bash scripts/dev-services.sh stop   [DIR]   stop everything and delete its state (the next start is fresh)
#   bash scripts/dev-services.sh status [DIR]   say what runs (exit 0 only when all of it is healthy)
#   bash scripts/dev-services.sh env    [DIR]   print DIR/env: `eval "$(bash scripts/dev-services.sh env)"`
# DIR/env exports SEGREC_TEST_PG_URL, SEGREC_TEST_S3_ENDPOINT, SEGREC_TEST_S3_REGION,
# SEGREC_TEST_S3_ACCESS_KEY, SEGREC_TEST_S3_SECRET_KEY, and for tests that run private daemons
# (test/helpers/services.ts) SEGREC_TEST_CEPH_CONF, SEGREC_TEST_PG_BIN and SEGREC_TEST_SERVICES_DIR (they
# keep their files in DIR/private, so `stop` also ends what a killed test process left running).
# Ports: SEGREC_PG_PORT (55432), SEGREC_RGW_PORT (7480), SEGREC_MON_PORT (6789); the OSD takes ports of
# Ceph's 6800-7300 range. The PostgreSQL binaries: SEGREC_PG_BIN (default the newest /usr/lib/postgresql/*/bin).
# Install the packages with: bash scripts/setup.sh --distributed.
# `start` cleans up after a killed earlier run (stale pid files, daemons of DIR still running) before it
# starts afresh; daemons log to DIR/log and never hold the caller's stdout/stderr.
set -euo pipefail

cmd=${1:-}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-$root/.cache/services}
case "$cmd" in start|stop|status|env) ;; *)
  echo "usage: dev-services.sh start|stop|status|env [DIR]" >&2; exit 2 ;;
esac
dir=$(realpath -m "$dir")

pg_port=${SEGREC_PG_PORT:-55432}
rgw_port=${SEGREC_RGW_PORT:-7480}
mon_port=${SEGREC_MON_PORT:-6789}
memstore_bytes=${SEGREC_MEMSTORE_BYTES:-1073741824}
pg_bin=${SEGREC_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
s3_access=SEGRECTESTACCESSKEY0
s3_secret=segrec-test-secret-key-0123456789abcdefgh
s3_region=us-east-1
pg_user=segrec
pg_password=segrec
pg_db=segrec

ceph_dir=$dir/ceph
conf=$ceph_dir/ceph.conf
pg_dir=$dir/pg
pg_data=$pg_dir/data
pg_sock=$pg_dir/sock
log_dir=$dir/log
state=$dir/ports     # the ports of the running services (start may be asked again with other defaults)
env_file=$dir/env

say() { echo "dev-services: $*" >&2; }
die() { say "$*"; exit 1; }

# As root, PostgreSQL runs as the `postgres` user (initdb refuses root); otherwise as the caller.
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# The services of DIR use the ports recorded at start, when there is such a record.
if [ -f "$state" ]; then
  # shellcheck disable=SC1090
  . "$state"
fi

pid_alive() {  # pid file → 0 when its process runs and belongs to DIR
  local f=$1 pid
  [ -f "$f" ] || return 1
  pid=$(head -n 1 "$f" 2>/dev/null | tr -dc 0-9)
  [ -n "$pid" ] && running "$pid" && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$dir/"
}

running() {  # pid → 0 when it runs (a zombie does not: its parent may be an init that never reaps)
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

rgw_answers() {  # any HTTP answer on the RGW port
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 &&
    head -c 12 <&3 | grep -q "^HTTP/1"' _ "$1" 2>/dev/null
}

pg_ready() { "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -t 2 2>/dev/null; }

ceph_pids() {  # the pid files of DIR's Ceph daemons that exist
  ls "$ceph_dir"/run/*.pid 2>/dev/null || true
}

# Processes started for DIR (a Ceph daemon or a postgres whose command line names a path inside DIR),
# pid files or not: what a killed run leaves behind.
dir_processes() {
  local p comm
  for p in /proc/[0-9]*; do
    { read -r comm < "$p/comm"; } 2>/dev/null || continue
    case "$comm" in ceph-mon|ceph-osd|radosgw|postgres) ;; *) continue ;; esac
    if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF -- "$dir/"; then echo "${p#/proc/}"; fi
  done
}

healthy() {
  pid_alive "$ceph_dir/run/mon.a.pid" && pid_alive "$ceph_dir/run/osd.0.pid" &&
    pid_alive "$ceph_dir/run/client.rgw.a.pid" && pid_alive "$pg_data/postmaster.pid" &&
    pg_ready && rgw_answers "$rgw_port" && [ -f "$state" ]
}

stop_all() {
  local f pid pids=() i
  if [ -f "$pg_data/postmaster.pid" ] && pid_alive "$pg_data/postmaster.pid"; then
    as_pg "$pg_bin/pg_ctl" stop -D "$pg_data" -m fast -w -t 20 >/dev/null 2>&1 || true
  fi
  # The Ceph daemons get SIGKILL: their state is thrown away, and SIGTERM costs 2 s (memstore writes
  # itself out).
  for f in $(ceph_pids); do
    if pid_alive "$f"; then
      pid=$(head -n 1 "$f" | tr -dc 0-9)
      kill -KILL "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  # Leftovers of a killed run whose pid files are gone, and private daemons of tests (test/helpers/services.ts
  # keeps them in DIR/private): a postmaster gets SIGQUIT (immediate shutdown, it ends its backends too).
  for pid in $(dir_processes); do
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then kill -QUIT "$pid" 2>/dev/null || true
    else kill -KILL "$pid" 2>/dev/null || true; fi
    pids+=("$pid")
  done
  for i in $(seq 50); do
    local alive=0
    for pid in "${pids[@]}"; do running "$pid" && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in $(dir_processes); do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$ceph_dir" "$pg_dir" "$dir/private" "$env_file" "$state"
}

write_env() {
  umask 077
  cat > "$env_file.tmp" <<EOF
export SEGREC_TEST_PG_URL='postgres://$pg_user:$pg_password@127.0.0.1:$pg_port/$pg_db'
export SEGREC_TEST_S3_ENDPOINT='http://127.0.0.1:$rgw_port'
export SEGREC_TEST_S3_REGION='$s3_region'
export SEGREC_TEST_S3_ACCESS_KEY='$s3_access'
export SEGREC_TEST_S3_SECRET_KEY='$s3_secret'
export SEGREC_TEST_CEPH_CONF='$conf'
export SEGREC_TEST_PG_BIN='$pg_bin'
export SEGREC_TEST_SERVICES_DIR='$dir'
EOF
  mv "$env_file.tmp" "$env_file"
}

# Start's steps with their times since start, in DIR/log/start.log.
mark() { echo "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.2f", b - a }') s  $*" >> "$log_dir/start.log"; }

tail_log() { [ -f "$1" ] && { say "last lines of $1:"; tail -n "${2:-20}" "$1" >&2; } || true; }

start_pg() {
  mkdir -p "$pg_dir"
  chmod 0700 "$pg_dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$pg_dir"
  touch "$log_dir/postgres.log"
  [ "$(id -u)" = 0 ] && chown postgres: "$log_dir/postgres.log"
  as_pg "$pg_bin/initdb" -D "$pg_data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$log_dir/initdb.log" 2>&1 || { tail_log "$log_dir/initdb.log"; return 1; }
  mark "pg: initdb done"
  as_pg mkdir -p "$pg_sock"
  cat >> "$pg_data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$pg_sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 64MB
EOF
  # pg_ctl's postmaster inherits nothing of ours: stdin from /dev/null, output into the log file.
  as_pg setsid "$pg_bin/pg_ctl" start -D "$pg_data" -l "$log_dir/postgres.log" -w -t 60 \
    </dev/null >>"$log_dir/pg_ctl.log" 2>&1 9>&- || { tail_log "$log_dir/postgres.log"; return 1; }
  mark "pg: started"
  as_pg "$pg_bin/psql" -q -h "$pg_sock" -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    >>"$log_dir/pg_ctl.log" 2>&1 <<EOF || { tail_log "$log_dir/pg_ctl.log"; return 1; }
CREATE ROLE $pg_user LOGIN CREATEDB PASSWORD '$pg_password';
-- DROP DATABASE … WITH (FORCE) of a test's database ends an autovacuum worker busy in it too.
GRANT pg_signal_backend TO $pg_user;
CREATE DATABASE $pg_db OWNER $pg_user;
EOF
  mark "pg: role and database created"
}

start_ceph() {
  local fsid osd_id i
  mkdir -p "$ceph_dir/run" "$ceph_dir/mon/mon.a" "$ceph_dir/osd/osd.0" "$ceph_dir/crash"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
client mount timeout = 30
rgw init timeout = 60
# A killed radosgw's watches on the control objects (test/helpers/services.ts kills private ones) would
# stall every other gateway's metadata change (create bucket, …) until they time out: 30 s by default.
osd client watch timeout = 5
objecter tick interval = 1
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
# Each pool the gateway creates is an osdmap change, proposed once a second by default: 9 s of start.
paxos propose interval = 0.05
paxos min wait = 0.01
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = $memstore_bytes
run dir = $ceph_dir/run
pid file = $ceph_dir/run/\$name.pid
admin socket = $ceph_dir/run/\$name.asok
log file = $log_dir/\$name.log
mon cluster log file = $log_dir/cluster.log
crash dir = $ceph_dir/crash
mon data = $ceph_dir/mon/\$name
osd data = $ceph_dir/osd/\$name
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw thread pool size = 64
EOF
  export CEPH_CONF=$conf
  monmaptool --create --clobber --addv a "[v2:127.0.0.1:$mon_port]" --fsid "$fsid" "$ceph_dir/monmap" \
    >"$log_dir/setup-ceph.log" 2>&1 || { tail_log "$log_dir/setup-ceph.log"; return 1; }
  mark "ceph: mkfs mon"
  ceph-mon -c "$conf" --id a --mkfs --monmap "$ceph_dir/monmap" >>"$log_dir/setup-ceph.log" 2>&1 ||
    { tail_log "$log_dir/setup-ceph.log"; return 1; }
  setsid ceph-mon -c "$conf" --id a </dev/null 9>&- >>"$log_dir/setup-ceph.log" 2>&1 ||
    { tail_log "$log_dir/mon.a.log"; return 1; }
  mark "ceph: mon started"
  osd_id=$(timeout 30 ceph --connect-timeout 20 osd create 2>>"$log_dir/setup-ceph.log") ||
    { tail_log "$log_dir/setup-ceph.log"; tail_log "$log_dir/mon.a.log"; return 1; }
  [ "$osd_id" = 0 ] || { say "ceph osd create gave id '$osd_id', expected 0"; return 1; }
  mark "ceph: osd created"
  ceph-osd -c "$conf" --id 0 --mkfs >>"$log_dir/setup-ceph.log" 2>&1 || { tail_log "$log_dir/setup-ceph.log"; return 1; }
  setsid ceph-osd -c "$conf" --id 0 </dev/null 9>&- >>"$log_dir/setup-ceph.log" 2>&1 || { tail_log "$log_dir/osd.0.log"; return 1; }
  mark "ceph: osd started"
  setsid radosgw -c "$conf" -n client.rgw.a </dev/null 9>&- >>"$log_dir/setup-ceph.log" 2>&1 ||
    { tail_log "$log_dir/client.rgw.a.log"; return 1; }
  for i in $(seq 600); do
    rgw_answers "$rgw_port" && break
    if ! pid_alive "$ceph_dir/run/client.rgw.a.pid" && [ "$i" -gt 20 ]; then
      say "radosgw exited"; tail_log "$log_dir/client.rgw.a.log" 30; return 1
    fi
    sleep 0.1
  done
  rgw_answers "$rgw_port" || { say "radosgw does not answer on 127.0.0.1:$rgw_port after 60 s";
    tail_log "$log_dir/client.rgw.a.log" 30; return 1; }
  mark "ceph: radosgw answers"
  radosgw-admin user create --uid=segrec --display-name=segrec-test --access-key="$s3_access" \
    --secret-key="$s3_secret" >/dev/null 2>>"$log_dir/setup-ceph.log" ||
    { tail_log "$log_dir/setup-ceph.log"; return 1; }
}

# One start or stop of DIR at a time (a second caller waits for the first). The daemons are started with
# fd 9 closed, else they would hold the lock for good.
if [ "$cmd" = start ] || [ "$cmd" = stop ]; then
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock -w 300 9 || die "another start or stop of $dir has been running for 5 minutes ($dir/.lock)"
fi

case "$cmd" in
  env)
    [ -f "$env_file" ] || die "no $env_file: the services of $dir are not running (bash scripts/dev-services.sh start)"
    cat "$env_file"
    ;;
  status)
    ok=0
    show() { if "${@:2}"; then echo "$1: running"; else echo "$1: not running"; ok=1; fi; }
    show "postgres   (127.0.0.1:$pg_port)" eval 'pid_alive "$pg_data/postmaster.pid" && pg_ready'
    show "ceph-mon   (127.0.0.1:$mon_port)" pid_alive "$ceph_dir/run/mon.a.pid"
    show "ceph-osd" pid_alive "$ceph_dir/run/osd.0.pid"
    show "radosgw    (http://127.0.0.1:$rgw_port)" eval 'pid_alive "$ceph_dir/run/client.rgw.a.pid" && rgw_answers "$rgw_port"'
    exit $ok
    ;;
  stop)
    stop_all
    say "stopped ($dir)"
    ;;
  start)
    if healthy; then
      write_env
      say "already running ($dir)"
      exit 0
    fi
    t0=$(date +%s.%N)
    # Whatever is left of an earlier run of DIR (killed, or half started) goes first.
    if [ -f "$state" ] || [ -n "$(ceph_pids)" ] || [ -f "$pg_data/postmaster.pid" ] || [ -n "$(dir_processes)" ]; then
      say "cleaning up an earlier run in $dir"
      stop_all
    fi
    pg_port=${SEGREC_PG_PORT:-55432}; rgw_port=${SEGREC_RGW_PORT:-7480}; mon_port=${SEGREC_MON_PORT:-6789}
    command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null &&
      [ -x "$pg_bin/initdb" ] || die "PostgreSQL or Ceph is not installed; run: bash scripts/setup.sh --distributed"
    for p in "pg:$pg_port:SEGREC_PG_PORT" "rgw:$rgw_port:SEGREC_RGW_PORT" "mon:$mon_port:SEGREC_MON_PORT"; do
      IFS=: read -r what port var <<<"$p"
      if port_open "$port"; then
        die "port $port ($what) is in use on 127.0.0.1 (other services running? bash scripts/dev-services.sh status [DIR]); choose another with $var"
      fi
    done
    mkdir -p "$log_dir"
    rm -f "$log_dir"/*
    printf 'pg_port=%s\nrgw_port=%s\nmon_port=%s\n' "$pg_port" "$rgw_port" "$mon_port" > "$state"
    # PostgreSQL (initdb, a few seconds) starts beside Ceph.
    start_pg & pg_job=$!
    ceph_rc=0; start_ceph || ceph_rc=$?
    pg_rc=0; wait "$pg_job" || pg_rc=$?
    if [ $ceph_rc != 0 ] || [ $pg_rc != 0 ]; then
      [ $ceph_rc != 0 ] && say "Ceph did not start (logs in $log_dir)"
      [ $pg_rc != 0 ] && say "PostgreSQL did not start (logs in $log_dir)"
      stop_all
      exit 1
    fi
    mark "S3 user created"
    write_env
    say "started in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: PostgreSQL 127.0.0.1:$pg_port, S3 http://127.0.0.1:$rgw_port ($dir; env: $env_file)"
    ;;
esac
