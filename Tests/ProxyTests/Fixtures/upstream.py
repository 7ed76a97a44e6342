#!/usr/bin/env python3
"""A small, real upstream process for Switchyard's health and fault tests (stdlib only).

A threaded HTTP/1.1 keep-alive server on 127.0.0.1. Every request it receives is appended to
--log as one tab-separated line, written the moment its head has arrived (before the body is
read, so a request can never be sent twice without both copies being logged):

    MONOTONIC_SECONDS  NAME  METHOD  TARGET  X-REQUEST-ID|-  IN_FLIGHT  CONNECTION_NUMBER  MODE

IN_FLIGHT counts the proxied requests (not /healthz, not /__control) being handled at that
moment, this one included; MODE is the mode this request is answered in. time.monotonic() is CLOCK_MONOTONIC, the clock the Swift tests use.

Answers, by --mode (changeable at runtime, see below):
  normal                 200, `X-Upstream: NAME`, body NAME (Content-Length), keep-alive
  slow                   like normal after --delay-ms
  status500              500, `X-Upstream: NAME`, body NAME
  hang                   reads the request and never answers (until the peer closes)
  reset-before-response  reads the request, then resets the connection (RST) without a byte
  reset-mid-response     head with `Content-Length: 100000`, 1000 body bytes, a pause, then RST
  reset-mid-chunked      chunked head, one 1000-byte chunk, a pause, then RST
  reset-mid-close        head without framing (body until close), 1000 bytes, a pause, then RST

GET /healthz answers --healthz-status (default 200) whatever the mode, with Connection: close
when asked. Control requests, sent by the test straight to this process (not through the proxy):
  GET /__control/healthz/NNN   /healthz answers NNN from now on
  GET /__control/mode/MODE     switch the mode

Startup: binds --port (0 = any free port), then writes the bound port to --ready-file (atomically,
via rename), so the test knows the server accepts.
"""

import argparse
import os
import socket
import struct
import sys
import threading
import time

MODES = {"normal", "slow", "status500", "hang", "reset-before-response", "reset-mid-response",
         "reset-mid-chunked", "reset-mid-close"}


class State:
    def __init__(self, args):
        self.name = args.name
        self.mode = args.mode
        self.delay = args.delay_ms / 1000.0
        self.healthz = args.healthz_status
        self.lock = threading.Lock()
        self.in_flight = 0
        self.connections = 0
        self.log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def log(self, method, target, rid, in_flight, conn, mode):
        line = "%.6f\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n" % (time.monotonic(), self.name, method, target, rid, in_flight,
                                                       conn, mode)
        # One write(2) per line on an O_APPEND descriptor: lines never interleave, and they are
        # in the kernel (so in the file) even if this process is SIGKILLed right after.
        os.write(self.log_fd, line.encode("utf-8", "replace"))


class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise Closed()
            if not self.buf:
                try:
                    self.fill()
                except Closed:
                    return None
            else:
                self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def read_exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_chunked(self):
        while True:
            size = int(self.read_line().split(b";")[0].strip(), 16)
            if size == 0:
                while self.read_line() != b"":
                    pass
                return
            self.read_exactly(size)
            self.read_line()

    def drain_until_closed(self):
        try:
            while True:
                self.buf = b""
                self.fill()
        except (Closed, OSError):
            return


def reset(sock):
    # SO_LINGER {on, 0}: close() sends RST instead of FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def response(status, headers, body, keep_alive):
    reasons = {200: "OK", 500: "Internal Server Error", 503: "Service Unavailable"}
    lines = ["HTTP/1.1 %d %s" % (status, reasons.get(status, "Status"))]
    lines += ["%s: %s" % h for h in headers]
    lines.append("Content-Length: %d" % len(body))
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def serve(state, sock, conn_no):
    c = Conn(sock)
    try:
        while True:
            head = c.read_head()
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                return
            method, target, version = parts
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            conn_tokens = [t.strip().lower() for t in headers.get("connection", "").split(",")]
            keep_alive = ("close" not in conn_tokens) if version == "HTTP/1.1" else ("keep-alive" in conn_tokens)
            rid = headers.get("x-request-id", "-")
            is_control = target.startswith("/__control/")
            is_health = target == "/healthz" or target.startswith("/healthz?")
            counted = not (is_control or is_health)
            with state.lock:
                if counted:
                    state.in_flight += 1
                in_flight = state.in_flight
                mode = state.mode
                healthz = state.healthz
                delay = state.delay
            try:
                state.log(method, target, rid, in_flight, conn_no, mode)
                # The body (only Content-Length and chunked requests have one).
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    c.read_chunked()
                elif "content-length" in headers:
                    c.read_exactly(int(headers["content-length"]))

                if is_control:
                    what = target[len("/__control/"):].split("/")
                    ok = False
                    with state.lock:
                        if len(what) == 2 and what[0] == "healthz" and what[1].isdigit():
                            state.healthz = int(what[1])
                            ok = True
                        elif len(what) == 2 and what[0] == "mode" and what[1] in MODES:
                            state.mode = what[1]
                            ok = True
                    sock.sendall(response(200 if ok else 400, [], b"ok" if ok else b"bad control request", keep_alive))
                elif is_health:
                    sock.sendall(response(healthz, [("X-Upstream", state.name)], b"health", keep_alive))
                elif mode == "hang":
                    c.drain_until_closed()
                    return
                elif mode == "reset-before-response":
                    reset(sock)
                    return
                elif mode in ("reset-mid-response", "reset-mid-chunked", "reset-mid-close"):
                    if mode == "reset-mid-response":
                        h = "HTTP/1.1 200 OK\r\nX-Upstream: %s\r\nContent-Length: 100000\r\n\r\n" % state.name
                        body = b"x" * 1000
                    elif mode == "reset-mid-chunked":
                        h = "HTTP/1.1 200 OK\r\nX-Upstream: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % state.name
                        body = b"3e8\r\n" + b"x" * 1000 + b"\r\n"
                    else:
                        h = "HTTP/1.1 200 OK\r\nX-Upstream: %s\r\nConnection: close\r\n\r\n" % state.name
                        body = b"x" * 1000
                    sock.sendall(h.encode() + body)
                    # Let the proxy forward what it got before the reset arrives.
                    time.sleep(0.05)
                    reset(sock)
                    return
                else:
                    if mode == "slow":
                        time.sleep(delay)
                    status = 500 if mode == "status500" else 200
                    sock.sendall(response(status, [("X-Upstream", state.name)], state.name.encode(), keep_alive))
            finally:
                if counted:
                    with state.lock:
                        state.in_flight -= 1
            if not keep_alive:
                return
    except (Closed, OSError, ValueError):
        return
    finally:
        try:
            sock.close()
        except OSError:
            pass


def exit_with_parent():
    # The test kills this process by PID in teardown; should the test process itself die first
    # (a crash skips teardown), do not outlive it.
    parent = os.getppid()
    while True:
        time.sleep(0.2)
        if os.getppid() != parent:
            os._exit(0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--name", required=True)
    p.add_argument("--mode", default="normal", choices=sorted(MODES))
    p.add_argument("--delay-ms", type=int, default=300)
    p.add_argument("--healthz-status", type=int, default=200)
    p.add_argument("--log", required=True)
    p.add_argument("--ready-file", required=True)
    args = p.parse_args()

    state = State(args)
    threading.Thread(target=exit_with_parent, daemon=True).start()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(256)
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(tmp, args.ready_file)

    while True:
        try:
            sock, _ = srv.accept()
        except InterruptedError:
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with state.lock:
            state.connections += 1
            n = state.connections
        threading.Thread(target=serve, args=(state, sock, n), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
