#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only).

  bench.py body MODEL STREAM OUT [PII]    write the ~1 KB chat request body (PII: an e-mail in it)
  bench.py ttfb URL BODY N OUT            N sequential streaming requests; time to first body byte
  bench.py overhead URL BODY N OUT        N sequential requests; read x-sluice-overhead-us
  bench.py report RESULTS_DIR ...         print the summary, write the docs/benchmarks.md row

All times in the result files are microseconds.
"""

import json
import os
import socket
import sys
import time
import http.client
from urllib.parse import urlsplit

API_KEY = os.environ.get("BENCH_KEY", "sk-bench")


# ---------------------------------------------------------------- request body


def body(model, stream, out, pii="false"):
    """A system message plus a user message padded so the whole body is about 1 KB; with
    pii "true" the user message starts with an e-mail address (masked and restored by a
    guardrail)."""
    system = "You are a concise assistant. Answer in one short paragraph."
    filler = "The quick brown fox jumps over the lazy dog. "
    req = {
        "model": model,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": ""},
        ],
        # Keeps the mock's echo answer (and its stream) short: a 1 KB prompt, a short answer.
        "max_tokens": 32,
    }
    if stream == "true":
        req["stream"] = True
    user = "Mail ann.lee@example.com: summarise the following text. " if pii == "true" else \
        "Summarise the following text. "
    while len(json.dumps(req)) + len(filler) <= 1024:
        user += filler
        req["messages"][1]["content"] = user
    with open(out, "w") as f:
        json.dump(req, f)


# ---------------------------------------------------------------- statistics


def pct(sorted_vals, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def summary(vals):
    s = sorted(vals)
    return {
        "n": len(s),
        "p50": pct(s, 50),
        "p99": pct(s, 99),
        "p999": pct(s, 99.9),
        "max": s[-1] if s else float("nan"),
    }


# ---------------------------------------------------------------- TTFB


def _read_until(sock, buf, marker):
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    return buf


def _drain_body(sock, buf, headers):
    """Reads the rest of one response body (content-length or chunked) and returns what is
    left over after it."""
    if "content-length" in headers:
        need = int(headers["content-length"])
        while len(buf) < need:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed mid-body")
            buf += chunk
        return buf[need:]
    if "chunked" not in headers.get("transfer-encoding", ""):
        raise ValueError("response has neither content-length nor chunked encoding")
    while True:
        buf = _read_until(sock, buf, b"\r\n")
        line, rest = buf.split(b"\r\n", 1)
        size = int(line.split(b";")[0], 16)
        while len(rest) < size + 2:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed mid-chunk")
            rest += chunk
        buf = rest[size + 2 :]
        if size == 0:
            # No trailers are expected; the zero chunk is followed by an empty line (consumed).
            return buf


def ttfb(url, body_path, n, out):
    """Sequential streaming requests on one keep-alive connection. For each, the time from
    sending the request to reading the first response *body* byte (past the headers)."""
    u = urlsplit(url)
    with open(body_path, "rb") as f:
        payload = f.read()
    head = (
        f"POST {u.path} HTTP/1.1\r\n"
        f"Host: {u.netloc}\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: text/event-stream\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    request = head + payload
    sock = socket.create_connection((u.hostname, u.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples, headers_us, overhead = [], [], []
    warmup = min(50, n // 10)
    leftover = b""
    for i in range(n + warmup):
        t0 = time.perf_counter_ns()
        sock.sendall(request)
        buf = _read_until(sock, leftover, b"\r\n\r\n")
        t_head = time.perf_counter_ns()
        raw_head, buf = buf.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ")[1]
        if status != "200":
            raise RuntimeError(f"{url}: HTTP {status}")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip().lower()
        # The first body byte: for chunked encoding, the first byte of the first chunk's data.
        if "chunked" in headers.get("transfer-encoding", ""):
            buf = _read_until(sock, buf, b"\r\n")
            size_line, after = buf.split(b"\r\n", 1)
            while not after:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed before the first chunk")
                after += chunk
            buf = size_line + b"\r\n" + after
        else:
            while not buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed before the body")
                buf += chunk
        t1 = time.perf_counter_ns()
        leftover = _drain_body(sock, buf, headers)
        if i >= warmup:
            samples.append((t1 - t0) / 1000.0)
            headers_us.append((t_head - t0) / 1000.0)
            if "x-sluice-overhead-us" in headers:
                overhead.append(float(headers["x-sluice-overhead-us"]))
    sock.close()
    res = {"ttfb_us": summary(samples), "headers_us": summary(headers_us)}
    if overhead:
        res["overhead_us"] = summary(overhead)
    with open(out, "w") as f:
        json.dump(res, f, indent=1)


# ---------------------------------------------------------------- overhead header


def overhead(url, body_path, n, out):
    u = urlsplit(url)
    with open(body_path, "rb") as f:
        payload = f.read()
    conn = http.client.HTTPConnection(u.hostname, u.port)
    hdrs = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}
    vals, missing = [], 0
    for _ in range(n):
        conn.request("POST", u.path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}: HTTP {resp.status}")
        v = resp.getheader("x-sluice-overhead-us")
        if v is None:
            missing += 1
        else:
            vals.append(float(v))
    conn.close()
    with open(out, "w") as f:
        json.dump({"overhead_us": summary(vals), "missing": missing}, f, indent=1)


# ---------------------------------------------------------------- report


def _oha(path):
    with open(path) as f:
        j = json.load(f)
    lat = j.get("latencyPercentiles", {})
    codes = j.get("statusCodeDistribution", {}) or {}
    errors = j.get("errorDistribution", {}) or {}
    ok = sum(v for k, v in codes.items() if str(k).startswith("2"))
    bad = sum(v for k, v in codes.items() if not str(k).startswith("2"))
    # Requests cut off by the -z deadline are not failures of the server.
    errs = sum(v for k, v in errors.items() if "deadline" not in k)

    def us(key):
        v = lat.get(key)
        return float("nan") if v is None else v * 1e6

    return {
        "rps": j["summary"].get("requestsPerSec") or 0.0,
        "p50": us("p50"),
        "p99": us("p99"),
        "p999": us("p99.9"),
        "ok": ok,
        "failed": bad + errs,
        "errors": {**{f"HTTP {k}": v for k, v in codes.items() if not str(k).startswith("2")}, **errors},
    }


def _fmt_us(v):
    if v != v:  # NaN
        return "n/a"
    if abs(v) >= 10000:
        return f"{v / 1000:.1f} ms"
    if abs(v) >= 1000:
        return f"{v / 1000:.2f} ms"
    return f"{v:.0f} µs"


def _fmt_rps(v):
    return f"{v:,.0f}"


STREAM_NOTE = "500 req/s, same body through model bench and model guarded"


def report(results, row_out, date, commit, duration, sluice_core, load_core):
    r = lambda name: _oha(os.path.join(results, f"{name}.json"))  # noqa: E731
    runs = [
        ("500 req/s", "direct-q500", "sluice-q500"),
        ("2000 req/s", "direct-q2000", "sluice-q2000"),
        ("max, 64 conns", "direct-max", "sluice-max"),
        ("stream 500 req/s", "direct-stream", "sluice-stream"),
    ]
    data = {}
    for _, d, s in runs:
        data[d] = r(d)
        data[s] = r(s)
    for name in ("direct-failover", "sluice-failover", "sluice-translated", "sluice-translated-stream",
                 "sluice-guarded-stream", "sluice-guarded-plain-stream"):
        if os.path.exists(os.path.join(results, f"{name}.json")):
            data[name] = r(name)
    with open(os.path.join(results, "rss.json")) as f:
        rss = json.load(f)
    with open(os.path.join(results, "overhead.json")) as f:
        ovh = json.load(f)
    with open(os.path.join(results, "ttfb-direct.json")) as f:
        tt_d = json.load(f)
    with open(os.path.join(results, "ttfb-sluice.json")) as f:
        tt_s = json.load(f)

    w = sys.stdout.write
    w("\n")
    w(f"Sluice benchmark  {date}  commit {commit}  ({duration} per load run; "
      f"Sluice on core {sluice_core}, mock + oha on core {load_core})\n\n")

    w("Load runs (oha; latency is full response time; fixed rates use --latency-correction)\n")
    hdr = f"{'run':<18} {'path':<8} {'req/s':>9} {'p50':>9} {'p99':>9} {'p99.9':>9} {'failed':>7}\n"
    w(hdr)
    w("-" * (len(hdr) - 1) + "\n")
    for label, d, s in runs:
        for path, key in (("direct", d), ("sluice", s)):
            x = data[key]
            w(f"{label:<18} {path:<8} {_fmt_rps(x['rps']):>9} {_fmt_us(x['p50']):>9} "
              f"{_fmt_us(x['p99']):>9} {_fmt_us(x['p999']):>9} {x['failed']:>7}\n")
            if x["errors"]:
                w(f"{'':<18} {'':<8} errors: {x['errors']}\n")
    w("\n")

    def added(d, s, k):
        return data[s][k] - data[d][k]

    w("Added latency (through Sluice minus direct, same rate)\n")
    for label, d, s in runs:
        if "max" in d:
            continue
        w(f"  {label:<18} p50 {_fmt_us(added(d, s, 'p50')):>9}   p99 {_fmt_us(added(d, s, 'p99')):>9}"
          f"   p99.9 {_fmt_us(added(d, s, 'p999')):>9}\n")
    w("\n")

    ttfb_add_p50 = tt_s["ttfb_us"]["p50"] - tt_d["ttfb_us"]["p50"]
    ttfb_add_p99 = tt_s["ttfb_us"]["p99"] - tt_d["ttfb_us"]["p99"]
    n_tt = tt_s["ttfb_us"]["n"]
    w(f"Streaming time to first body byte ({n_tt} sequential requests, one keep-alive connection)\n")
    w(f"  direct  p50 {_fmt_us(tt_d['ttfb_us']['p50']):>9}   p99 {_fmt_us(tt_d['ttfb_us']['p99']):>9}\n")
    w(f"  sluice  p50 {_fmt_us(tt_s['ttfb_us']['p50']):>9}   p99 {_fmt_us(tt_s['ttfb_us']['p99']):>9}\n")
    w(f"  added   p50 {_fmt_us(ttfb_add_p50):>9}   p99 {_fmt_us(ttfb_add_p99):>9}\n")
    w(f"  (response head alone: direct p50 {_fmt_us(tt_d['headers_us']['p50'])}, "
      f"sluice p50 {_fmt_us(tt_s['headers_us']['p50'])})\n\n")

    o = ovh["overhead_us"]
    w(f"Server-side x-sluice-overhead-us ({o['n']} sequential non-streaming requests)\n")
    w(f"  p50 {_fmt_us(o['p50'])}   p99 {_fmt_us(o['p99'])}   p99.9 {_fmt_us(o['p999'])}   max {_fmt_us(o['max'])}\n")
    if "overhead_us" in tt_s:
        so = tt_s["overhead_us"]
        w(f"  (streaming, to response head: p50 {_fmt_us(so['p50'])}   p99 {_fmt_us(so['p99'])})\n")
    w("\n")

    w(f"Sluice RSS: idle {rss['idle_kb'] / 1024:.1f} MB, peak (VmHWM) {rss['peak_kb'] / 1024:.1f} MB\n\n")

    tr = data.get("sluice-translated")
    if tr:
        trs = data.get("sluice-translated-stream")
        pass_add = added("direct-q500", "sluice-q500", "p50")
        tr_add = tr["p50"] - data["direct-q500"]["p50"]
        w("Translation (OpenAI in, Anthropic Messages out, 500 req/s)\n")
        w(f"  non-stream p50 {_fmt_us(tr['p50'])}   p99 {_fmt_us(tr['p99'])}   added p50 {_fmt_us(tr_add)} "
          f"(pass-through added p50 {_fmt_us(pass_add)})\n")
        if trs:
            w(f"  stream     p50 {_fmt_us(trs['p50'])}   p99 {_fmt_us(trs['p99'])}   "
              f"added p50 {_fmt_us(trs['p50'] - data['direct-stream']['p50'])} "
              f"(pass-through added p50 {_fmt_us(added('direct-stream', 'sluice-stream', 'p50'))})\n")
        w("\n")

    gs, gp = data.get("sluice-guarded-stream"), data.get("sluice-guarded-plain-stream")
    if gs and gp:
        w(f"Guardrails on a stream (PII mask + restore, an e-mail in the prompt and the answer, {STREAM_NOTE})\n")
        w(f"  without  p50 {_fmt_us(gp['p50'])}   p99 {_fmt_us(gp['p99'])}\n")
        w(f"  with     p50 {_fmt_us(gs['p50'])}   p99 {_fmt_us(gs['p99'])}   "
          f"added p50 {_fmt_us(gs['p50'] - gp['p50'])}   failed {gs['failed']}\n\n")

    fo = data.get("sluice-failover")
    if fo:
        total = fo["ok"] + fo["failed"]
        success = fo["ok"] / total * 100 if total else 0.0
        w("Failover (model with two targets, one failing 30% of requests; retry max 2)\n")
        w(f"  {_fmt_rps(fo['rps'])} req/s   client-visible success {success:.2f}% ({fo['ok']} of {total})   "
          f"p50 {_fmt_us(fo['p50'])}   p99 {_fmt_us(fo['p99'])}   p99.9 {_fmt_us(fo['p999'])}\n")
        fd = data.get("direct-failover")
        if fd:
            w(f"  added vs direct to the healthy mock at the same rate: p50 {_fmt_us(fo['p50'] - fd['p50'])}   "
              f"p99 {_fmt_us(fo['p99'] - fd['p99'])}\n")
        w("\n")

    keyed = {}
    for name, file in (("memory", "sluice-keyed-q2000"), ("redis", "sluice-keyed-redis-q2000")):
        if os.path.exists(os.path.join(results, f"{file}.json")):
            keyed[name] = r(file)
    keyed_ovh = {}
    for name in ("memory", "redis"):
        path = os.path.join(results, f"overhead-keyed-{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                keyed_ovh[name] = json.load(f)["overhead_us"]
    if keyed:
        w("Tenancy (a virtual key with RPM, TPM and a monthly budget on every request, 2000 req/s)\n")
        base50 = added("direct-q2000", "sluice-q2000", "p50")
        base99 = added("direct-q2000", "sluice-q2000", "p99")
        w(f"  {'off':<8} added p50 {_fmt_us(base50):>9}   p99 {_fmt_us(base99):>9}   "
          f"overhead hdr p50 {_fmt_us(o['p50'])}\n")
        for name, x in keyed.items():
            ov = keyed_ovh.get(name)
            w(f"  {name:<8} added p50 {_fmt_us(x['p50'] - data['direct-q2000']['p50']):>9}   "
              f"p99 {_fmt_us(x['p99'] - data['direct-q2000']['p99']):>9}   "
              f"overhead hdr p50 {_fmt_us(ov['p50']) if ov else '-'}   failed {x['failed']}\n")
        w("\n")

    cached = {}
    for name, file in (("memory", "sluice-cached-q2000"), ("redis", "sluice-cached-redis-q2000")):
        if os.path.exists(os.path.join(results, f"{file}.json")):
            cached[name] = r(file)
    if cached:
        w("Exact cache hits (end to end through Sluice, 2000 req/s)\n")
        for name, x in cached.items():
            w(f"  {name:<8} p50 {_fmt_us(x['p50']):>9}   p99 {_fmt_us(x['p99']):>9}   failed {x['failed']}\n")
        w("\n")

    add50 = added("direct-q2000", "sluice-q2000", "p50")
    add99 = added("direct-q2000", "sluice-q2000", "p99")
    ratio = data["sluice-max"]["rps"] / data["direct-max"]["rps"] if data["direct-max"]["rps"] else 0.0
    idle_mb = rss["idle_kb"] / 1024
    peak_mb = rss["peak_kb"] / 1024
    failed_total = sum(x["failed"] for name, x in data.items() if not name.endswith("failover"))
    checks = [
        ("added p50 @ 2000 req/s", "≤ 50 µs", _fmt_us(add50), add50 <= 50),
        ("added p99 @ 2000 req/s", "≤ 250 µs", _fmt_us(add99), add99 <= 250),
        ("max throughput vs direct", "≥ 30%",
         f"{ratio * 100:.0f}% ({_fmt_rps(data['sluice-max']['rps'])} / {_fmt_rps(data['direct-max']['rps'])})",
         ratio >= 0.30),
        ("RSS idle", "≤ 30 MB", f"{idle_mb:.1f} MB", idle_mb <= 30),
        ("RSS peak under max load", "≤ 80 MB", f"{peak_mb:.1f} MB", peak_mb <= 80),
        ("stream added TTFB p50", "≤ 100 µs", _fmt_us(ttfb_add_p50), ttfb_add_p50 <= 100),
    ]
    if tr:
        ratio_tr = tr_add / pass_add if pass_add > 0 else float("inf")
        checks.append(("translated added p50", "≤ 1.5× pass", f"{ratio_tr:.2f}× ({_fmt_us(tr_add)})", ratio_tr <= 1.5))
    if fo:
        checks.append(("failover success", "100%", f"{fo['ok']} of {fo['ok'] + fo['failed']}", fo["failed"] == 0))
    if "memory" in cached:
        hit = cached["memory"]
        checks.append(("cache hit p50 / p99", "≤100 / 500 µs", f"{_fmt_us(hit['p50'])} / {_fmt_us(hit['p99'])}",
                       hit["p50"] <= 100 and hit["p99"] <= 500))
    if "memory" in keyed_ovh:
        # Server-side time is the stable measure of what admission adds; the client-side
        # added latency on this VM moves by more than 20 µs between identical runs.
        extra = keyed_ovh["memory"]["p50"] - o["p50"]
        checks.append(("limits+budget overhead p50", "≤ +20 µs", f"{_fmt_us(extra)} (memory)", extra <= 20))
    w("Targets (issues #2, #5, #6)\n")
    hdr = f"{'metric':<26} {'target':<10} {'measured':<30} result\n"
    w(hdr)
    w("-" * (len(hdr) - 1) + "\n")
    for name, target, measured, ok in checks:
        w(f"{name:<26} {target:<10} {measured:<30} {'PASS' if ok else 'MISS'}\n")
    if failed_total:
        w(f"\nWARNING: {failed_total} failed requests across the load runs (see above).\n")
    passed = sum(1 for c in checks if c[3])
    w(f"\n{passed}/{len(checks)} targets met.\n")

    row = "| " + " | ".join([
        date,
        f"`{commit}`",
        duration,
        f"{_fmt_us(data['direct-q500']['p50'])} / {_fmt_us(data['sluice-q500']['p50'])}",
        f"{_fmt_us(added('direct-q500', 'sluice-q500', 'p50'))} / {_fmt_us(added('direct-q500', 'sluice-q500', 'p99'))}",
        f"{_fmt_us(add50)} / {_fmt_us(add99)}",
        f"{_fmt_us(data['sluice-q2000']['p999'])}",
        f"{_fmt_rps(data['direct-max']['rps'])} / {_fmt_rps(data['sluice-max']['rps'])} ({ratio * 100:.0f}%)",
        f"{_fmt_us(ttfb_add_p50)} / {_fmt_us(ttfb_add_p99)}",
        f"{_fmt_us(o['p50'])} / {_fmt_us(o['p99'])}",
        f"{idle_mb:.1f} / {peak_mb:.1f}",
        f"{passed}/{len(checks)}",
    ]) + " |\n"
    with open(row_out, "w") as f:
        f.write(row)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "body" and len(argv) in (5, 6):
        body(*argv[2:])
    elif cmd == "ttfb" and len(argv) == 6:
        ttfb(argv[2], argv[3], int(argv[4]), argv[5])
    elif cmd == "overhead" and len(argv) == 6:
        overhead(argv[2], argv[3], int(argv[4]), argv[5])
    elif cmd == "report" and len(argv) == 9:
        report(*argv[2:9])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
