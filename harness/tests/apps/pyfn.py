#!/usr/bin/env python3
"""A second implementation of the test function's protocol, in Python's standard library.

It shows what a team's own app needs to be measured with `--app-command`: print the bound
address on the first line of stdout, answer /health and /api/ping, run POST /tick by
submitting items VERSION(m,n) to the sink, and die on SIGTERM (this one abandons its runs).
"""
import argparse
import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--listen", default="127.0.0.1:0")
parser.add_argument("--version", required=True)
parser.add_argument("--instance", required=True)
parser.add_argument("--slot", default="production")
parser.add_argument("--sink", required=True)
parser.add_argument("--items", type=int, default=10)
parser.add_argument("--item-delay-ns", type=int, default=1_000_000_000)
parser.add_argument("--startup-delay-ns", type=int, default=0)
parser.add_argument("--report-sends", action="store_true")
args, _ignored = parser.parse_known_args()


report_lock = threading.Lock()


def report(word, m, n):
    # Optional: lets the host tell an item lost in flight from one never sent. One whole
    # line per write, under a lock, so runs on two threads never interleave their lines.
    if args.report_sends:
        with report_lock:
            sys.stdout.write(f"{word} tick {m} {n}\n")
            sys.stdout.flush()


def submit(m, n):
    report("sent", m, n)
    body = json.dumps({"source": "tick", "m": m, "n": n, "version": args.version,
                       "instance": args.instance, "attempt": 1,
                       "sent_ns": time.time_ns()}).encode()
    req = urllib.request.Request(args.sink + "/items", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        ok = 200 <= resp.status < 300
    if ok:
        report("acked", m, n)
    return ok


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"ok": True})
        elif self.path.startswith("/api/ping"):
            self.reply(200, {"version": args.version, "instance": args.instance,
                             "slot": args.slot})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/tick":
            self.reply(404, {"error": "not found"})
            return
        start = time.monotonic()
        sent = 0
        for n in range(args.items):
            delay = start + n * args.item_delay_ns / 1e9 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                submit(request["m"], n)
            except Exception as e:  # the run fails, as the protocol says
                self.reply(500, {"sent": sent, "error": str(e)})
                return
            sent += 1
        self.reply(200, {"sent": sent})


time.sleep(args.startup_delay_ns / 1e9)
host, port = args.listen.rsplit(":", 1)
server = ThreadingHTTPServer((host, int(port)), Handler)
server.daemon_threads = True
print(f"{server.server_address[0]}:{server.server_address[1]}", flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
threading.Event().wait()
