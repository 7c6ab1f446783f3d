#!/usr/bin/python3
# Camera-like RTSP test server for the camera test suite (owned by test/cameras; started through
# test/helpers/rtsp-server.ts). GStreamer's gst-rtsp-server on 127.0.0.1, one live stream per mount,
# shared between clients (every client sees the same stream), never shut down on EOS.
#
# Every picture is distinct: videotestsrc's moving SMPTE bars with the running time (ms) burnt in by
# timeoverlay, 320x240 at 25 fps. Mounts:
#   /h264-aac       H.264 high, 2 B-frames, 2 s GOP + AAC
#   /h264-baseline  H.264 constrained baseline, no audio
#   /h264-alaw      H.264 + G.711 A-law (8 kHz mono)
#   /baseline-alaw  H.264 constrained baseline (no B-frames) + G.711 A-law: the commonest IP camera
#   /h264-mulaw     H.264 + G.711 mu-law (8 kHz mono)
#   /h264-opus      H.264 + Opus
#   /h265-aac       H.265 (x265's default open GOP: CRA keyframes, leading pictures) + AAC
#   /mjpeg          Motion JPEG, no audio
#   /auth           H.264 + AAC behind basic auth (user cam, password s3cret-pa55)
#   /gop10          H.264 with a 10 s GOP + AAC
#   /jump           H.264 + AAC whose timestamps jump forward (by --jump-forward-ms at --jump-at-s of
#                   running time) and back (by --jump-back-ms at --jump-back-at-s); audio and video alike.
#   /pair-main      } one camera, two streams (PairCamera): a single sensor (appsrc, 640x360 at 15 fps,
#   /pair-sub       } grey bars, a white box that moves only during bursts) feeds a tee with two encoders:
#                   main = H.264 high 640x360, 1 s GOP, ~1 Mbit/s; sub = H.264 constrained baseline
#                   320x180, 2 s GOP, ~250 kbit/s (the low-resolution "detect" stream a camera offers).
#                   Both mounts relay their encoder's output with the sensor's capture time, so a frame
#                   has the same capture instant (on the shared system clock) in both, as in a camera.
#                   Bursts: frames n with (n mod P*15) in [O*15, (O+D)*15), P = --pair-period-s (6),
#                   O = --pair-offset-s (2), D = --pair-burst-s (2), n counted from the sensor's start.
#                   The camera runs from the first client of either mount until the server exits, and
#                   prints "BURST <frame> <epoch ms>" on stdout (flushed) with the wall-clock capture time
#                   of every burst's first frame.
#
# Usage: /usr/bin/python3 rtsp_server.py --port N [--jump-at-s 8] [--jump-forward-ms 2000]
#        [--jump-back-at-s 16] [--jump-back-ms 2000] [--jump-every-s 0]
#        [--pair-period-s 6] [--pair-offset-s 2] [--pair-burst-s 2]
# Prints "READY <port>" on stdout once listening; exits 0 on SIGTERM or SIGINT.
import argparse
import signal
import sys
import threading
import time

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

USER = 'cam'
PASSWORD = 's3cret-pa55'

VIDEO_SRC = ('videotestsrc is-live=true pattern=smpte horizontal-speed=3 '
             '! video/x-raw,width=320,height=240,framerate=25/1,format=I420 '
             '! timeoverlay time-mode=running-time font-desc="Sans 20" halignment=center valignment=center '
             '! queue max-size-buffers=3 leaky=no ')


def h264(gop=50, bframes=2, profile='high'):
    if profile == 'baseline':
        enc = (f'x264enc speed-preset=ultrafast tune=zerolatency key-int-max={gop} bframes=0 threads=1 '
               '! video/x-h264,profile=constrained-baseline ')
    else:
        # No tune=zerolatency: it forces bframes=0. rc-lookahead/sync-lookahead 0 keep the latency low.
        enc = (f'x264enc speed-preset=ultrafast bframes={bframes} b-adapt=false key-int-max={gop} '
               'dct8x8=true cabac=true rc-lookahead=0 sync-lookahead=0 threads=1 ! video/x-h264,profile=high ')
    return VIDEO_SRC + '! ' + enc + '! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 '


def h265():
    return (VIDEO_SRC + '! x265enc speed-preset=ultrafast key-int-max=50 '
            'option-string="open-gop=1:pools=1:frame-threads=1:log-level=error" '
            '! video/x-h265,profile=main ! h265parse ! rtph265pay name=pay0 pt=96 config-interval=-1 ')


def mjpeg():
    return VIDEO_SRC + '! jpegenc quality=80 ! rtpjpegpay name=pay0 pt=26 '


def audio(kind):
    src = 'audiotestsrc is-live=true wave=sine freq=440 volume=0.3 '
    if kind == 'aac':
        return (src + 'samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 ! audioconvert '
                '! avenc_aac bitrate=64000 ! aacparse ! rtpmp4gpay name=pay1 pt=97 ')
    if kind == 'alaw':
        return (src + 'samplesperbuffer=160 ! audio/x-raw,rate=8000,channels=1 ! audioconvert '
                '! alawenc ! rtppcmapay name=pay1 pt=8 ')
    if kind == 'mulaw':
        return (src + 'samplesperbuffer=160 ! audio/x-raw,rate=8000,channels=1 ! audioconvert '
                '! mulawenc ! rtppcmupay name=pay1 pt=0 ')
    if kind == 'opus':
        return (src + 'samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 ! audioconvert '
                '! opusenc bitrate=32000 ! rtpopuspay name=pay1 pt=97 ')
    raise ValueError(kind)


# ---- /pair-main + /pair-sub: one camera, two encoders --------------------------------------------------

PAIR_W, PAIR_H, PAIR_FPS = 640, 360, 15
PAIR_BOX = 80          # box side (main pixels)
PAIR_STEP = 16         # box travel per frame during a burst (main pixels)

# The camera's own pipeline: sensor -> tee -> two encoders -> appsinks. x264 repeats SPS/PPS before every
# IDR, so a client joining either mount mid-stream starts at the next keyframe of that stream.
PAIR_CAMERA = (
    f'appsrc name=sensor is-live=true format=time do-timestamp=false block=false '
    f'caps=video/x-raw,format=I420,width={PAIR_W},height={PAIR_H},framerate={PAIR_FPS}/1 '
    '! tee name=t '
    't. ! queue max-size-buffers=4 leaky=no '
    f'! x264enc speed-preset=ultrafast tune=zerolatency dct8x8=true cabac=true key-int-max={PAIR_FPS} bitrate=1000 threads=1 '
    '! video/x-h264,profile=high,stream-format=byte-stream,alignment=au '
    '! appsink name=main emit-signals=true sync=false max-buffers=60 drop=true '
    't. ! queue max-size-buffers=4 leaky=no ! videoscale ! video/x-raw,width=320,height=180 '
    f'! x264enc speed-preset=ultrafast tune=zerolatency key-int-max={2 * PAIR_FPS} bitrate=250 threads=1 '
    '! video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au '
    '! appsink name=sub emit-signals=true sync=false max-buffers=60 drop=true ')

# Each mount relays one encoder: its appsrc receives the encoded frames with their capture time.
PAIR_RELAY = ('appsrc name=relay is-live=true format=time do-timestamp=false block=false '
              'caps=video/x-h264,stream-format=byte-stream,alignment=au '
              '! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 ')


class PairCamera:
    """One camera with a main and a sub stream from the same sensor. Frames are generated here (so the
    burst times are exact in frames), stamped with their capture time on the pipeline clock (the
    system clock, shared with every RTSP media), encoded twice, and relayed into the mounts' media with
    the same capture instant: pts(media) = capture time - base time of that media."""

    def __init__(self, a):
        self.period = int(round(a.pair_period_s * PAIR_FPS))
        self.first = int(round(a.pair_offset_s * PAIR_FPS))
        self.last = self.first + int(round(a.pair_burst_s * PAIR_FPS))
        self.lock = threading.Lock()
        self.relays = {'main': [], 'sub': []}
        # Relays that have had their first keyframe: a relay starts with one (SPS/PPS included), so its
        # parser and payloader never see a frame they cannot place.
        self.synced = set()
        self.pipeline = None
        self.base = 0
        self.background = self._background()

    def _background(self):
        y = bytearray(PAIR_W * PAIR_H)
        bars = [16, 48, 80, 112, 144, 176, 96, 32]
        row = bytearray()
        for x in range(PAIR_W):
            row.append(bars[x * len(bars) // PAIR_W])
        for r in range(PAIR_H):
            y[r * PAIR_W:(r + 1) * PAIR_W] = row
        return bytes(y) + bytes([128]) * (PAIR_W * PAIR_H // 2)

    def frame(self, n):
        k = n % self.period
        if not (self.first <= k < self.last):
            return self.background
        buf = bytearray(self.background)
        x0 = 32 + (k - self.first) * PAIR_STEP
        y0 = (PAIR_H - PAIR_BOX) // 2
        white = b'\xeb' * PAIR_BOX
        for r in range(y0, y0 + PAIR_BOX):
            buf[r * PAIR_W + x0:r * PAIR_W + x0 + PAIR_BOX] = white
        return bytes(buf)

    def attach(self, kind, relay):
        with self.lock:
            self.relays[kind].append(relay)
            if self.pipeline is None:
                self._start()

    def detach(self, kind, relay):
        with self.lock:
            if relay in self.relays[kind]:
                self.relays[kind].remove(relay)
            self.synced.discard(relay)

    def _start(self):
        self.pipeline = Gst.parse_launch(PAIR_CAMERA)
        self.pipeline.use_clock(Gst.SystemClock.obtain())
        for kind in ('main', 'sub'):
            self.pipeline.get_by_name(kind).connect('new-sample', self._on_sample, kind)
        self.pipeline.set_state(Gst.State.PLAYING)
        # Not waiting for the state change here (the media is being configured): a live pipeline's sinks
        # preroll only once the sensor pushes, which the thread does once the pipeline has its clock.
        threading.Thread(target=self._sensor, daemon=True).start()

    def _sensor(self):
        src = self.pipeline.get_by_name('sensor')
        # PLAYING sets the clock, then the base time (0 until then).
        while self.pipeline.get_clock() is None or self.pipeline.get_base_time() == 0:
            time.sleep(0.005)
        clock = self.pipeline.get_clock()
        self.base = self.pipeline.get_base_time()
        interval = Gst.SECOND // PAIR_FPS
        n = 0
        while True:
            t = n * Gst.SECOND // PAIR_FPS
            wait = self.base + t - clock.get_time()
            if wait > 0:
                time.sleep(wait / Gst.SECOND)
            if n % self.period == self.first:
                # The capture time of a burst's first frame on the wall clock, for latency measurements.
                late = clock.get_time() - (self.base + t)
                print(f'BURST {n} {time.time() * 1000 - late / Gst.MSECOND:.3f}', flush=True)
            buf = Gst.Buffer.new_wrapped(self.frame(n))
            buf.pts = t
            buf.duration = interval
            if src.emit('push-buffer', buf) != Gst.FlowReturn.OK:
                return
            n += 1

    def _on_sample(self, sink, kind):
        sample = sink.emit('pull-sample')
        if sample is None:
            return Gst.FlowReturn.OK
        buf = sample.get_buffer()
        rt = sample.get_segment().to_running_time(Gst.Format.TIME, buf.pts)
        if rt == Gst.CLOCK_TIME_NONE:
            return Gst.FlowReturn.OK
        capture = self.base + rt
        with self.lock:
            relays = list(self.relays[kind])
        for relay in relays:
            _, state, _ = relay.get_state(0)
            if state != Gst.State.PLAYING:
                continue
            pts = capture - relay.get_base_time()
            if pts < 0:
                continue
            if relay not in self.synced:
                if buf.has_flags(Gst.BufferFlags.DELTA_UNIT):
                    continue
                self.synced.add(relay)
            out = buf.copy()
            out.pts = pts
            out.dts = pts
            relay.emit('push-buffer', out)
        return Gst.FlowReturn.OK


MOUNTS = {
    '/h264-aac': h264() + audio('aac'),
    '/h264-baseline': h264(profile='baseline'),
    '/h264-alaw': h264() + audio('alaw'),
    '/baseline-alaw': h264(profile='baseline') + audio('alaw'),
    '/h264-mulaw': h264() + audio('mulaw'),
    '/h264-opus': h264() + audio('opus'),
    '/h265-aac': h265() + audio('aac'),
    '/mjpeg': mjpeg(),
    '/auth': h264() + audio('aac'),
    '/gop10': h264(gop=250) + audio('aac'),
    '/jump': h264() + audio('aac'),
    '/pair-main': PAIR_RELAY,
    '/pair-sub': PAIR_RELAY,
}
PAIR_MOUNTS = {'/pair-main': 'main', '/pair-sub': 'sub'}


class OpenAuth(GstRtspServer.RTSPAuth):
    """Basic auth for the /auth mount only: every other mount is open to anyone. (A default token for
    anonymous clients would make gst-rtsp-server answer 404 instead of the 401 challenge clients such
    as ffmpeg need before they send credentials.)"""

    def do_check(self, ctx, check):
        uri = ctx.uri if ctx is not None else None
        path = uri.abspath if uri is not None else None
        if path is not None and path != '/auth' and not path.startswith('/auth/'):
            return True
        return GstRtspServer.RTSPAuth.do_check(self, ctx, check)


class JumpProbe:
    """Adds an offset to PTS/DTS of the buffers entering a payloader, chosen by the buffer's own
    (original) running time of capture, so audio and video jump together."""

    def __init__(self, a):
        self.at = int(a.jump_at_s * Gst.SECOND)
        self.back_at = int(a.jump_back_at_s * Gst.SECOND)
        self.fwd = int(a.jump_forward_ms * Gst.MSECOND)
        self.back = int(a.jump_back_ms * Gst.MSECOND)
        self.every = int(a.jump_every_s * Gst.SECOND)

    def offset(self, t):
        if t < self.at:
            return 0
        if self.every > 0:
            t = self.at + (t - self.at) % self.every
        if t < self.back_at:
            return self.fwd
        return self.fwd - self.back

    def __call__(self, pad, info):
        buf = info.get_buffer()
        if buf is None:
            return Gst.PadProbeReturn.OK
        # Decided by capture time (PTS), as a camera whose clock jumps would do.
        t = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else buf.dts
        if t == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        # Running time, not the raw timestamp: x264enc shifts its timestamps by 1000 hours (min-pts).
        ev = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
        if ev is not None:
            rt = ev.parse_segment().to_running_time(Gst.Format.TIME, t)
            if rt != Gst.CLOCK_TIME_NONE and rt >= 0:
                t = rt
        off = self.offset(t)
        if off != 0:
            if buf.pts != Gst.CLOCK_TIME_NONE:
                buf.pts = max(0, buf.pts + off)
            if buf.dts != Gst.CLOCK_TIME_NONE:
                buf.dts = max(0, buf.dts + off)
        # Audio payloaders may derive RTP time from the sample offset ("perfect rtptime"): drop it so
        # the RTP timestamp follows the shifted PTS.
        buf.offset = Gst.BUFFER_OFFSET_NONE
        return Gst.PadProbeReturn.OK


class HoleProbe:
    """Reports holes in a mount's own video timestamps (decode order, running time): a source that
    falls behind (an encoder starved of CPU) may drop or stall frames, and a recording is then right
    to show a gap. Prints "HOLE <mount> <from_ms> <to_ms>" on stdout, flushed."""

    def __init__(self, mount, frame_ns):
        self.mount = mount
        self.limit = frame_ns * 3 // 2
        self.last = None

    def __call__(self, pad, info):
        buf = info.get_buffer()
        if buf is None:
            return Gst.PadProbeReturn.OK
        t = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else buf.pts
        if t == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        ev = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
        if ev is not None:
            rt = ev.parse_segment().to_running_time(Gst.Format.TIME, t)
            if rt == Gst.CLOCK_TIME_NONE:
                return Gst.PadProbeReturn.OK  # before the segment (x264's negative DTS)
            t = rt
        if self.last is not None and t - self.last > self.limit:
            print(f'HOLE {self.mount} {self.last // Gst.MSECOND} {t // Gst.MSECOND}', flush=True)
        self.last = t
        return Gst.PadProbeReturn.OK


def main():
    p = argparse.ArgumentParser(description='camera-like RTSP test server')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--jump-at-s', type=float, default=8.0)
    p.add_argument('--jump-forward-ms', type=float, default=2000.0)
    p.add_argument('--jump-back-at-s', type=float, default=16.0)
    p.add_argument('--jump-back-ms', type=float, default=2000.0)
    p.add_argument('--jump-every-s', type=float, default=0.0,
                   help='repeat the forward/back cycle with this period (0 = once)')
    p.add_argument('--pair-period-s', type=float, default=6.0, help='/pair-*: a motion burst every N s')
    p.add_argument('--pair-offset-s', type=float, default=2.0, help='/pair-*: bursts begin N s into each period')
    p.add_argument('--pair-burst-s', type=float, default=2.0, help='/pair-*: each burst lasts N s')
    a = p.parse_args()

    Gst.init(None)
    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPServer()
    server.set_address('127.0.0.1')
    server.set_service(str(a.port))

    # Basic auth as cam:s3cret-pa55 gives the role "cam"; only /auth asks for it (see OpenAuth).
    auth = OpenAuth()
    cam = GstRtspServer.RTSPToken()
    cam.set_string('media.factory.role', 'cam')
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(USER, PASSWORD), cam)
    server.set_auth(auth)

    jump = JumpProbe(a)
    pair = PairCamera(a)
    mounts = server.get_mount_points()
    for path, launch in MOUNTS.items():
        f = GstRtspServer.RTSPMediaFactory()
        f.set_launch('( ' + launch + ')')
        f.set_shared(True)
        f.set_eos_shutdown(False)
        if path == '/auth':
            perms = GstRtspServer.RTSPPermissions()
            perms.add_permission_for_role('cam', 'media.factory.access', True)
            perms.add_permission_for_role('cam', 'media.factory.construct', True)
            f.set_permissions(perms)
        def configure(_factory, media, path=path):
            el = media.get_element()
            # Added first, so it sees the timestamps before /jump's probe shifts them.
            fps = PAIR_FPS if path in PAIR_MOUNTS else 25
            el.get_by_name('pay0').get_static_pad('sink').add_probe(Gst.PadProbeType.BUFFER, HoleProbe(path, Gst.SECOND // fps))
            if path in PAIR_MOUNTS:
                relay = el.get_by_name('relay')
                kind = PAIR_MOUNTS[path]
                pair.attach(kind, relay)
                media.connect('unprepared', lambda _m: pair.detach(kind, relay))
            if path == '/jump':
                for name in ('pay0', 'pay1'):
                    pay = el.get_by_name(name)
                    if pay is not None:
                        pay.get_static_pad('sink').add_probe(Gst.PadProbeType.BUFFER, jump)
        f.connect('media-configure', configure)
        mounts.add_factory(path, f)

    if server.attach(None) == 0:
        print(f'rtsp_server: cannot listen on 127.0.0.1:{a.port}', file=sys.stderr)
        sys.exit(1)

    def stop(*_):
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, stop)
    print(f'READY {server.get_bound_port()}', flush=True)
    loop.run()
    sys.exit(0)


if __name__ == '__main__':
    main()
