#!/usr/bin/env python3
"""500 concurrent unsigned 2 MB webhook deliveries to a `stocksync serve`, and the peak RSS (VmHWM, Linux) of
the serve process, with the answers counted by status.

usage: python3 examples/stocksync/scripts/webhook_flood.py target/debug/stocksync [serve flags...]

It starts `stocksync sandbox`, connects its Shopify emulator as the one store in a temporary config, starts
`serve` on a free port with the given flags, fires the requests from 500 threads at once, and prints one
JSON line. See examples/stocksync/README.md, "Bounds on webhook clients"."""
import json, os, socket, subprocess, sys, tempfile, threading, time, collections
binary = sys.argv[1]; flags = sys.argv[2:]
sandbox = subprocess.Popen([binary, "sandbox", "--no-rate-limits"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
info = json.loads(sandbox.stdout.readline())
shop = info["shopify"]
d = tempfile.mkdtemp()
cfg = os.path.join(d, "s.toml")
open(cfg, "w").write(f'''[store]
path = "s.db"
key_env = "K"
[[connections]]
id = "shopify"
channel = "shopify"
source_of_truth = true
credentials_env = {{ access_token = "T", webhook_secret = "W" }}
[connections.settings]
shop_domain = "{shop.get('shop_domain')}"
base_url = "{shop['base_url']}"
''')
env = dict(os.environ, K="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", T=shop["access_token"], W=shop["webhook_secret"])
r = subprocess.run([binary, "--config", cfg, "connections", "add", "shopify"], env=env, capture_output=True, text=True)
assert r.returncode == 0, r.stderr
serve = subprocess.Popen([binary, "--config", cfg, "serve", "--listen", "127.0.0.1:0", *flags], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
addr = serve.stdout.readline().strip().removeprefix("listening on http://")
host, port = addr.split(":"); port = int(port)
def rss():
    s = open(f"/proc/{serve.pid}/status").read()
    return {l.split(":")[0]: l.split(":")[1].strip() for l in s.splitlines() if l.startswith(("VmHWM", "VmRSS"))}
time.sleep(1)
base = rss()
N, SIZE = 500, 2_000_000
body = b"{" + b" " * (SIZE - 2) + b"}"
statuses = collections.Counter()
lock = threading.Lock()
go = threading.Barrier(N)
def client():
    try:
        s = socket.create_connection((host, port), timeout=60)
        go.wait()
        s.sendall(f"POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n".encode())
        try:
            s.sendall(body)
        except OSError:
            pass
        data = b""
        while True:
            try:
                c = s.recv(4096)
            except OSError:
                break
            if not c: break
            data += c
        st = data[9:12].decode() or "closed/reset"
    except Exception as e:
        st = type(e).__name__
    with lock: statuses[st] += 1
threads = [threading.Thread(target=client) for _ in range(N)]
t0 = time.time()
for t in threads: t.start()
for t in threads: t.join()
el = time.time() - t0
after = rss()
serve.terminate(); serve.wait(); sandbox.terminate(); sandbox.wait()
print(json.dumps({"binary": binary, "flags": flags, "idle": base, "after": after, "statuses": statuses, "seconds": round(el, 1)}))
