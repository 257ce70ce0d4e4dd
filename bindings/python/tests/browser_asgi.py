#!/usr/bin/env python3
"""gowt.asgi against headless Chromium: `python -m gowt.asgi asgi_app:app`
(port 0, generated certificate) and a page (browser_asgi.html) that checks
sessions, the application's own uni and bidi streams, a 1 MB bidi echo, a
uni stream answered on a uni stream, datagrams both ways, a close by the
page (code and reason seen by the application) and one by the application
(code and reason seen by the page).

    browser_asgi.py --build BUILD_DIR

Prints PASS/FAIL per check; exits 1 on a failure. Without Chromium
(/usr/lib/chromium/chromium; scripts/deps.sh browser installs it): exit 77,
or 1 under CI=true. Standard library only.
"""
import argparse
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)
CHROMIUMS = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
TIMEOUT = 90


def run_once():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    a = ap.parse_args()
    chromium = next((c for c in CHROMIUMS if os.access(c, os.X_OK)), None)
    if chromium is None:
        print(("FAIL" if os.environ.get("CI") == "true" else "SKIP")
              + ": no Chromium (scripts/deps.sh browser)", flush=True)
        return 1 if os.environ.get("CI") == "true" else 77
    lib = os.path.join(os.path.abspath(a.build), "libgowt.so")
    env = dict(os.environ, GOWT_LIBRARY=lib, PYTHONPATH=PKG + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("GOWT_LIB", None)
    logdir = tempfile.mkdtemp(prefix="gowt-asgi-browser-")

    result = {}
    done = threading.Event()

    class Page(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = open(os.path.join(HERE, "browser_asgi.html"), "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            result["checks"] = json.loads(self.rfile.read(n).decode())
            self.send_response(204)
            self.end_headers()
            done.set()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server = subprocess.Popen([sys.executable, "-m", "gowt.asgi", "asgi_app:app", "--port", "0",
                               "--app-dir", HERE,
                               "--allowed-origins", "http://127.0.0.1:%d" % httpd.server_address[1]], stdout=subprocess.PIPE,
                              stderr=open(os.path.join(logdir, "server.stderr"), "wb"),
                              env=env, text=True)
    lines = []
    ready = threading.Event()
    box = {}

    def reader():
        for line in server.stdout:
            lines.append(line.rstrip("\n"))
            m = re.match(r"READY port=(\d+) hash=([0-9a-f]{64})$", line.strip())
            if m:
                box["port"], box["hash"] = m.group(1), m.group(2)
                ready.set()
    threading.Thread(target=reader, daemon=True).start()
    browser = None
    failures = []
    try:
        if not ready.wait(30):
            failures.append("server: no READY line in 30 s (see %s)" % logdir)
            return 1
        url = "http://127.0.0.1:%d/?%s" % (httpd.server_address[1],
                                            urllib.parse.urlencode({"port": box["port"], "hash": box["hash"]}))
        profile = os.path.join(logdir, "profile")
        browser = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(logdir, "chromium.stderr"), "wb"), start_new_session=True,
            env=dict(os.environ, XDG_CONFIG_HOME=os.path.join(logdir, "xdg-config")))
        if not done.wait(TIMEOUT):
            failures.append("page: no result within %d s (Chromium status %s; logs in %s)"
                            % (TIMEOUT, browser.poll(), logdir))
        time.sleep(0.5)  # the application's last lines
        checks = result.get("checks", [])
        for c in checks:
            print("%s %s: %s" % ("PASS" if c["ok"] else "FAIL", c["name"], c["detail"]), flush=True)
            if not c["ok"]:
                failures.append(c["name"])
        want = ["session_open", "server_uni_stream", "server_bidi_stream", "bidi_echo_1mb",
                "uni_answered", "datagrams", "page_close", "server_close"]
        missing = [w for w in want if w not in {c["name"] for c in checks}]
        if missing and checks:
            failures.append("page did not report %s" % missing)
        # the server's side of the same facts
        server_facts = {
            "scope": "APP scope path=/browser query=from=chromium session_id=",
            "bidi_bytes": "APP stream bidi bytes=%d" % (1 << 20),
            "uni_bytes": "APP stream uni bytes=12",
            "page_close_seen": "APP disconnect code=4321 reason=page done",
            "app_closed": "APP closing",
        }
        for name, prefix in server_facts.items():
            ok = any(l.startswith(prefix) for l in lines)
            print("%s server_%s" % ("PASS" if ok else "FAIL", name), flush=True)
            if not ok:
                failures.append("server_" + name)
    finally:
        if browser is not None and browser.poll() is None:
            try:
                os.killpg(browser.pid, signal.SIGTERM)
                browser.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(browser.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                browser.wait()
        httpd.shutdown()
        httpd.server_close()
        server.send_signal(signal.SIGTERM)
        try:
            rc = server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            rc = server.wait()
        if rc != 0:
            failures.append("server exit status %s after SIGTERM" % rc)
        print("%s server_exit_clean" % ("PASS" if rc == 0 else "FAIL"), flush=True)
        if failures:
            print("server output:\n  " + "\n  ".join(lines), file=sys.stderr)
            print("logs kept in %s" % logdir, file=sys.stderr)
        else:
            shutil.rmtree(logdir, ignore_errors=True)
    print("%s (%d failures)" % ("FAIL" if failures else "OK", len(failures)), flush=True)
    return 1 if failures else 0


def main():
    # One replay of a failed run (a browser under CI load is slow to
    # start); the replay's verdict counts, and the first run's lines stay
    # in the log. The one flake seen (bindings/python/README.md) was a
    # close racing the application's first sends, since fixed.
    rc = run_once()
    if rc == 1 and os.access(next((c for c in CHROMIUMS if os.access(c, os.X_OK)), "/nonexistent"), os.X_OK):
        print("RETRY: the first run failed; running once more", flush=True)
        rc = run_once()
    return rc


if __name__ == "__main__":
    sys.exit(main())
