#!/usr/bin/env python3
# The slow-client half of server-limits.sh: loopback sockets only.
#
#   server-limits.py PORT_A PORT_B TOKEN PER_IP DEADLINE
#
# Server A runs with a short --deadline and --per-ip PER_IP; server B with
# the default deadline and --min-rate 1024. Every 127.0.0.0/8 address is
# the loopback, so each group of slow clients comes from its own address
# and stays under A's per-address limit. Prints what it saw; exits 1 on the
# first broken expectation.
import socket
import sys
import time

PORT_A, PORT_B = int(sys.argv[1]), int(sys.argv[2])
TOKEN, PER_IP, DEADLINE = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
DRIP = 10          # seconds between two bytes of a slow client
PER_GROUP = 50     # slow clients per source address
T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def fail(msg):
    print("FAIL: %s (at %.1f s)" % (msg, now()), file=sys.stderr)
    sys.exit(1)


def connect(port, src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    return s


def request(port, src, path="/api/v1/scans", limit=2.0):
    """A normal authenticated GET; its status, or fail after limit s."""
    start = time.monotonic()
    s = connect(port, src)
    s.settimeout(limit)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % (path, TOKEN))
                  .encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        fail("a normal request from %s got no answer within %.0f s: %s"
             % (src, limit, e))
    finally:
        s.close()
    took = time.monotonic() - start
    if not data.startswith(b"HTTP/1.1 200"):
        fail("a normal request from %s got %r" % (src, data[:40]))
    return took


def closed(s):
    """True when the server has closed (or reset) s; never blocks."""
    s.setblocking(False)
    try:
        data = s.recv(4096)
        return data == b"" or data.startswith(b"HTTP/")
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)


def drip(s, byte):
    try:
        s.send(byte)
        return True
    except OSError:
        return False


# ---- 200 slow clients on A: half stuck in the headers, half in a body ----
slow = []   # (socket, kind, opened at)
for g, src in enumerate(("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")):
    for i in range(PER_GROUP):
        s = connect(PORT_A, src)
        if g < 2:
            # slowloris: a request line, then a header a byte at a time
            s.sendall(b"GET /api/v1/scans HTTP/1.1\r\nX-Slow: a")
            kind = "headers"
        else:
            # a report announced large, sent a byte at a time
            s.sendall(("POST /api/v1/scans?name=slow%d-%d HTTP/1.1\r\n"
                       "Host: t\r\nAuthorization: Bearer %s\r\n"
                       "Content-Length: 100000\r\n\r\n<" % (g, i, TOKEN))
                      .encode())
            kind = "body"
        slow.append((s, kind))
time.sleep(0.5)
alive = [c for c in slow if not closed(c[0])]
if len(alive) != len(slow):
    fail("%d of %d slow clients were refused while under every limit"
         % (len(slow) - len(alive), len(slow)))
print("%d slow clients connected in %.1f s" % (len(slow), now()))

# ---- a normal request is not starved ----
took = request(PORT_A, "127.0.0.1")
print("normal request beside them answered in %.3f s" % took)

# ---- per-address limit: one more than PER_IP from one address ----
held = []
for i in range(PER_IP):
    s = connect(PORT_A, "127.0.0.6")
    s.sendall(b"GET /api/v1/scans HTTP/1.1\r\n")
    held.append(s)
time.sleep(0.3)
if any(closed(s) for s in held):
    fail("a connection within the per-address limit was closed")
extra = connect(PORT_A, "127.0.0.6")
extra.settimeout(2)
try:
    extra.sendall(b"GET /api/v1/scans HTTP/1.1\r\nHost: t\r\n\r\n")
    got = extra.recv(4096)
except OSError:
    got = b""
if got != b"":
    fail("connection %d from one address was served: %r"
         % (PER_IP + 1, got[:40]))
extra.close()
print("connection %d from 127.0.0.6 refused" % (PER_IP + 1))
took = request(PORT_A, "127.0.0.7")
print("another address still served, in %.3f s" % took)
for s in held:
    s.close()

# ---- B: slow bodies are cut by the minimum rate (after its 30 s grace) ----
rate_slow = []
for i in range(10):
    s = connect(PORT_B, "127.0.0.8")
    s.sendall(("POST /api/v1/scans?name=rate%d HTTP/1.1\r\nHost: t\r\n"
               "Authorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n<"
               % (i, TOKEN)).encode())
    rate_slow.append(s)
# and one honest sender at 4 KiB/s, which must never be cut
honest = connect(PORT_B, "127.0.0.9")
BODY = 136 * 1024
honest.sendall(("POST /api/v1/scans?name=honest HTTP/1.1\r\nHost: t\r\n"
                "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                % (TOKEN, BODY)).encode())
honest_sent = 0
b_start = now()

# ---- drip until every slow client is cut, or give up ----
cut_a = {}
cut_b = {}
next_drip = now() + DRIP
limit_a = DEADLINE + 3          # the deadline holds without any new byte
limit_b = 30 + DRIP + 3         # the rate is judged when a byte comes
while now() < b_start + limit_b + 1:
    for idx, (s, kind) in enumerate(slow):
        if idx not in cut_a and closed(s):
            cut_a[idx] = now()
    for idx, s in enumerate(rate_slow):
        if idx not in cut_b and closed(s):
            cut_b[idx] = now() - b_start
    if honest_sent < BODY:
        n = min(4096 // 4, BODY - honest_sent)
        try:
            honest.sendall(b"x" * n)
        except OSError as e:
            fail("the honest sender was cut after %d bytes: %s"
                 % (honest_sent, e))
        honest_sent += n
    if now() >= next_drip:
        for idx, (s, kind) in enumerate(slow):
            if idx not in cut_a:
                drip(s, b"a")
        for idx, s in enumerate(rate_slow):
            if idx not in cut_b:
                drip(s, b"a")
        next_drip += DRIP
    if now() > limit_a and len(cut_a) < len(slow):
        left = [slow[i][1] for i in range(len(slow)) if i not in cut_a]
        fail("%d slow clients outlived the %d s deadline (%d in headers, "
             "%d in a body)" % (len(left), DEADLINE, left.count("headers"),
                                left.count("body")))
    if len(cut_b) == len(rate_slow) and honest_sent >= BODY:
        break
    time.sleep(0.25)
print("all %d slow clients on A cut by %.1f s (deadline %d s)"
      % (len(slow), max(cut_a.values()), DEADLINE))
if len(cut_b) < len(rate_slow):
    fail("%d of %d slow bodies outlived the minimum rate"
         % (len(rate_slow) - len(cut_b), len(rate_slow)))
early = [t for t in cut_b.values() if t < 29]
if early:
    fail("%d slow bodies were cut before the rate's 30 s grace"
         % len(early))
print("all %d slow bodies on B cut by the minimum rate, %.1f-%.1f s in"
      % (len(rate_slow), min(cut_b.values()), max(cut_b.values())))
# the honest body was whole: the server answers it (not a report: 4xx)
honest.settimeout(10)
try:
    reply = honest.recv(4096)
except OSError as e:
    fail("the honest sender got no answer: %s" % e)
if not reply.startswith(b"HTTP/1.1 4"):
    fail("the honest sender's whole body got %r" % reply[:40])
print("honest sender (4 KiB/s for %.0f s) answered: %s"
      % (now() - b_start, reply.split(b"\r\n")[0].decode()))
took = request(PORT_A, "127.0.0.1")
print("normal request after all that answered in %.3f s" % took)
for s, _ in slow:
    s.close()
for s in rate_slow:
    s.close()
honest.close()
