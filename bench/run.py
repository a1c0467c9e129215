#!/usr/bin/env python3
"""Load benchmark: errata's gateway against nginx and HAProxy as API gateways, on loopback.

What an API owner would run instead of errata is nginx or HAProxy doing errata's job, so the
benchmark leads with those peers, each set up as a gateway in front of the same upstream:

- nginx-gw (Debian's nginx): a `map` of 1,000 API keys (`Authorization: Bearer <key>` -> key
  id; errata's benchmark key is one of them), `limit_req` keyed by the key id at a rate never
  reached (`burst` + `nodelay`, so the limiter runs on every request), JSON 401 bodies for a
  missing or unknown key and a JSON 429 (a second, tiny limit that only one key has), a
  request id (`$request_id`) sent upstream and to the client, the key stripped before the
  upstream, keep-alive upstream connections.
- HAProxy-gw (Debian's haproxy): a map file of the same 1,000 keys, a stick-table tracking
  each key's request rate with a deny threshold never reached, JSON 401 bodies, a unique id
  sent upstream and to the client, the key stripped, `nbthread` = workers, `http-reuse always`.

Beside them, as before: nginx as a plain reverse proxy and a static `return 401` (the floors).

Builds the release binaries, starts a tiny upstream (crates/errata-gateway/examples/
bench_upstream.rs), nginx (non-daemon children with their own prefix in a temp dir), HAProxy
(foreground, -db) and `errata serve` (SQLite store in the temp dir, in-memory counters, a plan
whose rate limit is high enough never to trigger, so the limiter runs on every request). Each
target is checked before it is timed: the gateways first in front of a throwaway Python
upstream that reports what it received (no Authorization header, the request id the client
got), then in front of the real one. Then wrk drives each target in interleaved rounds and
the report gives requests/s, p50/p99 latency (the median over rounds) and CPU µs per request
of the answering process (from /proc), leading with errata against the two gateways, with the
ratios against plain nginx beside them. Logging is the same for every target: no access log
(nginx `access_log off`, HAProxy no `log` line, errata RUST_LOG=warn); errata's own request
log (`[request_log]`, records written to its SQLite store) is on, as by default.

Also, per worker count: errata with 1,000 and 2,000 connections (refused requests counted);
`--memory` (on by default) errata's resident memory idle, with 2,000 keep-alive connections
open and after they closed; `--log-ab` an A/B of errata's request log on and off, with the
CPU errata spends writing the log after each run counted.

Python 3.11, standard library only. `bench/run.sh` is the entry point; `--help` for options.
Every process started here is stopped on exit, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import platform
import re
import secrets
import shutil
import signal
import ssl
import socket
import statistics
import subprocess
import sqlite3
import string
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_BODY_MARK = b'"service":"bench-upstream"'


class BenchError(Exception):
    """A failure that aborts the benchmark with a clear message."""


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Processes


class Procs:
    """Every child started by the benchmark, each in its own process group."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], *, env=None, cpus: str | None = None,
              stderr_path: Path | None = None, cwd: Path | None = None) -> subprocess.Popen:
        if cpus:
            argv = ["taskset", "-c", cpus, *argv]
        err = open(stderr_path, "ab") if stderr_path else subprocess.DEVNULL
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, cwd=cwd,
                             stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        if stderr_path:
            err.close()
        self.children.append((name, p))
        return p

    def check_alive(self) -> None:
        dead = [f"{name} (pid {p.pid}) exited with status {p.returncode}"
                for name, p in self.children if p.poll() is not None]
        if dead:
            raise BenchError("; ".join(dead) + (" (a negative status: the number of the signal "
                                                "that ended it; this script had not stopped it)"))

    def stop(self, p: subprocess.Popen) -> None:
        """Stops one child (its process group) and forgets it."""
        name = next((n for n, q in self.children if q is p), "child")
        self.children = [(n, q) for n, q in self.children if q is not p]
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log(f"{name} (pid {p.pid}) ignored SIGTERM; killing it")
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()

    def stop_all(self) -> None:
        # Our children only: each was started in a new session, so its process group id is its
        # own pid (nginx's workers are in its group).
        for name, p in reversed(self.children):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for name, p in reversed(self.children):
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} (pid {p.pid}) ignored SIGTERM; killing it")
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.children.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_ports(n: int) -> list[int]:
    """Free ports whose cluster bus ports (+10000) are free too."""
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p > 55000 or p in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 10000))
            except OSError:
                continue
        ports.append(p)
    return ports


def start_redis_cluster(procs: Procs, redis_bin: str, tmp: Path, cpus: str | None) -> str:
    """Six redis-servers joined as three masters with a replica each; returns the seeds."""
    ports = cluster_ports(6)
    for p in ports:
        d = tmp / f"cluster-{p}"
        d.mkdir(exist_ok=True)
        procs.start(f"redis cluster {p}",
                    [redis_bin, "--port", str(p), "--bind", "127.0.0.1",
                     "--cluster-enabled", "yes", "--save", "", "--appendonly", "no",
                     "--dir", str(d)],
                    cpus=cpus, stderr_path=tmp / "redis-cluster.log")
        wait_for_port(p, procs, f"redis-server {p}")
    cli = shutil.which("redis-cli")
    if cli is None:
        raise BenchError("redis-cli is missing (apt-get install redis-tools)")
    addrs = [f"127.0.0.1:{p}" for p in ports]
    r = subprocess.run([cli, "--cluster", "create", *addrs, "--cluster-replicas", "1",
                        "--cluster-yes"], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"redis-cli --cluster create failed:\n{r.stdout}{r.stderr}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = [subprocess.run([cli, "-p", str(p), "cluster", "info"], capture_output=True,
                                 text=True).stdout for p in ports]
        if all("cluster_state:ok" in s for s in states):
            return ",".join(addrs)
        time.sleep(0.2)
    raise BenchError("the Redis Cluster did not reach cluster_state:ok within 30 s")


def wait_for_port(port: int, procs: Procs, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def group_cpu_seconds(pgid: int) -> tuple[float, float]:
    """User and system CPU time of every live process in a process group (all threads)."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                raw = f.read().decode()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
        if int(fields[2]) == pgid:
            user += int(fields[11])
            system += int(fields[12])
    return user / tick, system / tick


def cpu_busy_fraction(seconds: float = 2.0) -> float:
    """How busy the whole machine is (0..1), sampled from /proc/stat."""

    def snap():
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals), idle

    t0, i0 = snap()
    time.sleep(seconds)
    t1, i1 = snap()
    return 0.0 if t1 == t0 else 1.0 - (i1 - i0) / (t1 - t0)


# --------------------------------------------------------------------------------------------
# Tools and build


def ensure_tools(tls: bool) -> None:
    tools = [("nginx", "nginx"), ("haproxy", "haproxy"), ("wrk", "wrk")]
    if tls:
        tools += [("h2load", "nghttp2-client"), ("openssl", "openssl")]
    missing = [pkg for tool, pkg in tools
               if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists())]
    if not shutil.which("taskset"):
        log("taskset not found: --pin is unavailable")
    if not missing:
        return
    log(f"missing {', '.join(missing)}: installing with apt-get")
    if os.geteuid() == 0:
        prefix = []
    elif shutil.which("sudo"):
        prefix = ["sudo", "-n"]
    else:
        raise BenchError(f"{', '.join(missing)} not installed and not root (no sudo): "
                         f"apt-get install {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in ([*prefix, "apt-get", "update"],
                 [*prefix, "apt-get", "install", "-y", "--no-install-recommends", *missing]):
        log("running: " + " ".join(argv))
        if subprocess.run(argv, env=env).returncode != 0:
            raise BenchError(f"`{' '.join(argv)}` failed")


def nginx_bin() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def haproxy_bin() -> str:
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


def build(skip: bool, profile: str = "release") -> float | None:
    if skip:
        log(f"--no-build: using the existing {profile} binaries")
        return None
    argv = ["cargo", "build", *(["--release"] if profile == "release" else []),
            "-p", "errata", "--bin", "errata", "-p", "errata-gateway", "--example",
            "bench_upstream"]
    log("building: " + " ".join(argv))
    t0 = time.monotonic()
    if subprocess.run(argv, cwd=ROOT).returncode != 0:
        raise BenchError("the release build failed")
    took = time.monotonic() - t0
    log(f"release build took {took:.1f} s")
    return took


def target_dir() -> Path:
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"]).resolve()
    return ROOT / "target"


# --------------------------------------------------------------------------------------------
# Configs


NGINX_CONF = """\
# Generated by bench/run.py: nginx as a plain reverse proxy with keepalive to the upstream.
daemon off;
master_process on;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-client-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    upstream bench_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 256;
        keepalive_requests 1000000;
    }}
    # The limit for a rejection path: a static 401 in JSON, nothing else done.
    server {{
        listen 127.0.0.1:{static_port};
        location / {{
            default_type application/json;
            return 401 '{{"error":{{"code":"missing_api_key","message":"No API key."}}}}';
        }}
    }}
{tls_server}
    server {{
        listen 127.0.0.1:{port};
{proxy_location}
    }}
}}
"""

# What both of nginx's proxy servers do with a request (a value, so single braces).
PROXY_LOCATION = """\
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }"""

# nginx terminating TLS (HTTP/2 and HTTP/1.1 by ALPN) in front of the same upstream.
NGINX_TLS_SERVER = """\
    server {{
        listen 127.0.0.1:{tls_port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:bench_tls:10m;
{proxy_location}
    }}
"""

ERRATA_CONF = """\
# Generated by bench/run.py.
listen = "127.0.0.1:{port}"
workers = {workers}
max_connections = 20000
upstream = "http://127.0.0.1:{upstream_port}"
store = "sqlite://{tmp}/errata-keys.db"
counters = "memory://"

[admin]
listen = "127.0.0.1:{admin_port}"
token = "bench-admin-token-0123456789abcdef"

[limits]
default_plan = "bench"

# High enough never to trigger: the limiter still runs (and counts) on every request.
[plans.bench]
rate = 100000000
per_seconds = 1

# A public route (no key, so no limits either): errata's proxy path alone, to tell the cost
# of auth + rate limiting apart from the cost of proxying.
[[routes]]
path = "/public"
auth = false

# Everything else needs a key.
[[routes]]
path = "/"

# The request log (a record per answer and usage counts, written to the store in batches off
# the request path): on, as by default, except in the --log-ab "off" arm.
[request_log]
enabled = {request_log}
"""


def errata_conf(*, request_log: bool = True, **kw) -> str:
    return ERRATA_CONF.format(request_log="true" if request_log else "false", **kw)


def fill(template: str, **kw) -> str:
    """`template` with each @name@ replaced (configs full of braces, unlike str.format)."""
    for k, v in kw.items():
        template = template.replace(f"@{k}@", str(v))
    left = re.findall(r"@\w+@", template)
    if left:
        raise BenchError(f"config template: {', '.join(left)} not filled")
    return template


# The JSON error bodies of both gateway peers (the same codes and messages errata answers with;
# the request id is filled in by each peer).
ERR_MISSING = '{"error":{"code":"missing_api_key","message":"No API key.","request_id":"%s"}}'
ERR_UNKNOWN = '{"error":{"code":"invalid_api_key","message":"Unknown API key.","request_id":"%s"}}'
ERR_LIMITED = '{"error":{"code":"rate_limited","message":"Too many requests.","request_id":"%s"}}'

# nginx doing errata's job. Its own instance (own pid, logs and temp paths), beside the plain one.
NGINX_GW_CONF = """\
# Generated by bench/run.py: nginx as an API gateway, doing errata's job: API keys from a map,
# a per-key rate limit (never reached, so it runs on every request), JSON 401/429 bodies,
# a request id upstream and to the client, the key stripped, keep-alive to the upstream.
daemon off;
master_process on;
worker_processes @workers@;
pid @tmp@/nginx-gw.pid;
error_log @tmp@/nginx-gw-error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path @tmp@/nginx-gw-client-body;
    proxy_temp_path @tmp@/nginx-gw-proxy;
    fastcgi_temp_path @tmp@/nginx-gw-fastcgi;
    uwsgi_temp_path @tmp@/nginx-gw-uwsgi;
    scgi_temp_path @tmp@/nginx-gw-scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;

    # 1,000 API keys: the whole Authorization header ("Bearer <key>") -> the key's id; no
    # header, another scheme or an unknown key -> "".
    map_hash_bucket_size 256;
    map_hash_max_size 4096;
    map $http_authorization $api_key_id {
        default "";
        include @tmp@/nginx-gw-keys.map;
    }
    # The per-key limit: 1,000,000 requests/s with as large a burst, never reached; nodelay so
    # nothing is queued. An empty key id (no key) is not counted.
    limit_req_zone $api_key_id zone=per_key:10m rate=1000000r/s;
    # One key (key_limited) also has a tiny limit, 1 request/minute: the 429 row.
    map $api_key_id $api_key_tiny {
        default "";
        key_limited key_limited;
    }
    limit_req_zone $api_key_tiny zone=tiny:1m rate=1r/m;
    limit_req_status 429;
    # A rejection is logged at `info`, below error_log's `warn`: not written (errata does not
    # log its 429s either).
    limit_req_log_level info;

    upstream bench_upstream {
        server 127.0.0.1:@upstream_port@;
        keepalive 256;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:@port@;
        default_type application/json;
        # The request id, on every answer (proxied, 401 and 429 alike).
        add_header X-Request-Id $request_id always;
        error_page 429 = @limited;
        if ($http_authorization = "") {
            return 401 '@err_missing@';
        }
        if ($api_key_id = "") {
            return 401 '@err_unknown@';
        }
        location / {
            limit_req zone=per_key burst=1000000 nodelay;
            limit_req zone=tiny nodelay;
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # The key stays here; the upstream gets the key's id and the request id.
            proxy_set_header Authorization "";
            proxy_set_header X-Api-Key-Id $api_key_id;
            proxy_set_header X-Request-Id $request_id;
        }
        location @limited {
            return 429 '@err_limited@';
        }
    }
}
"""

# HAProxy doing errata's job, in the foreground (-db).
HAPROXY_GW_CONF = """\
# Generated by bench/run.py: HAProxy as an API gateway, doing errata's job: API keys from a
# map file, a per-key request rate in a stick-table with a deny threshold never reached (so it
# is tracked on every request), JSON 401/429 bodies, a unique request id upstream and to the
# client, the key stripped, connection reuse to the upstream.
# No `log` line anywhere: HAProxy logs nothing (as nginx with access_log off, errata at warn).
global
    nbthread @workers@
    # As nginx's worker_connections (errata: max_connections 20000, not reached here).
    maxconn 4096

defaults
    mode http
    maxconn 4096
    option http-keep-alive
    timeout connect 5s
    timeout client 75s
    timeout server 75s
    timeout http-keep-alive 75s

frontend api
    bind 127.0.0.1:@port@
    # Request rate per key id over the last second.
    stick-table type string len 32 size 4k expire 60s store http_req_rate(1s)
    # The request id: sent upstream (unique-id-header) and on every answer (below).
    unique-id-format %{+X}o%ci%cp%fi%fp%Ts%ms%rt%pid
    unique-id-header X-Request-Id
    http-request return status 401 content-type application/json lf-string '@err_missing@' unless { req.fhdr(authorization) -m found }
    # "Bearer <key>" -> the key's id, from a map file of 1,000 keys.
    http-request set-var(txn.key_id) req.fhdr(authorization),bytes(7),map_str(@keys_map@) if { req.fhdr(authorization) -m beg "Bearer " }
    http-request return status 401 content-type application/json lf-string '@err_unknown@' unless { var(txn.key_id) -m found }
    http-request track-sc0 var(txn.key_id)
    http-request return status 429 content-type application/json lf-string '@err_limited@' if { sc_http_req_rate(0) gt 1000000 }
    # The key stays here; the upstream gets the key's id (and the request id, above).
    http-request del-header Authorization
    http-request set-header X-Api-Key-Id %[var(txn.key_id)]
    http-request set-header X-Forwarded-Proto http
    option forwardfor
    http-after-response set-header X-Request-Id %[unique-id]
    default_backend upstream

backend upstream
    http-reuse always
    server up 127.0.0.1:@upstream_port@
"""

GW_KEYS = 1000  # keys in each peer's map, errata's benchmark key and its limited key among them


def gateway_keys(key: str, limited: str) -> list[tuple[str, str]]:
    """(key, key id) for the peers' maps: errata's two benchmark keys and generated ones of the
    same shape (`<prefix>_live_` + 32 base62 characters), GW_KEYS in all."""
    alphabet = string.ascii_letters + string.digits
    head = key[:-32]
    keys = [(key, "key_bench"), (limited, "key_limited")]
    for i in range(GW_KEYS - len(keys)):
        keys.append((head + "".join(secrets.choice(alphabet) for _ in range(32)), f"key_{i:04d}"))
    return keys


def write_gateway_maps(tmp: Path, keys: list[tuple[str, str]]) -> tuple[Path, Path]:
    nginx_map, haproxy_map = tmp / "nginx-gw-keys.map", tmp / "haproxy-gw-keys.map"
    nginx_map.write_text("".join(f'"Bearer {k}" {i};\n' for k, i in keys))
    haproxy_map.write_text("".join(f"{k} {i}\n" for k, i in keys))
    return nginx_map, haproxy_map


def nginx_gw_conf(tmp: Path, workers: int, port: int, upstream_port: int) -> str:
    return fill(NGINX_GW_CONF, tmp=tmp, workers=workers, port=port, upstream_port=upstream_port,
                err_missing=ERR_MISSING % "$request_id", err_unknown=ERR_UNKNOWN % "$request_id",
                err_limited=ERR_LIMITED % "$request_id")


def haproxy_gw_conf(tmp: Path, workers: int, port: int, upstream_port: int) -> str:
    return fill(HAPROXY_GW_CONF, workers=workers, port=port, upstream_port=upstream_port,
                keys_map=tmp / "haproxy-gw-keys.map",
                err_missing=ERR_MISSING % "%[unique-id]", err_unknown=ERR_UNKNOWN % "%[unique-id]",
                err_limited=ERR_LIMITED % "%[unique-id]")


def create_key(errata: Path, conf: Path, name: str, extra: list[str]) -> str:
    argv = [str(errata), "keys", "create", "--config", str(conf), "--tenant", "bench",
            "--name", name, *extra, "--json"]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"`{' '.join(argv)}` failed:\n{r.stderr.strip()}")
    try:
        return json.loads(r.stdout)["secret"]
    except (ValueError, KeyError, TypeError) as e:
        raise BenchError(f"no key secret in the output of `{' '.join(argv)}` ({e}):\n"
                         f"{r.stdout}") from e


# --------------------------------------------------------------------------------------------
# Checks


def get(port: int, path: str, headers: dict[str, str] | None = None,
        ca: Path | None = None):
    if ca is None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    else:
        ctx = ssl.create_default_context(cafile=str(ca))
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def expect(what: str, port: int, headers: dict[str, str] | None, status: int,
           body_has: bytes | None = None, path: str = "/",
           header: tuple[str, str] | None = None, ca: Path | None = None, *,
           json_body: bool = False, has_header: str | None = None) -> tuple[dict, bytes]:
    """One request and its checks: the status, a mark in the body, a header's value;
    `json_body`: the body parses as JSON; `has_header`: a header is there and not empty.
    Returns the response's headers (lower-case names) and body."""
    try:
        got, got_headers, body = get(port, path, headers, ca)
    except OSError as e:
        raise BenchError(f"check failed: {what}: {e}") from e
    if got != status or (body_has is not None and body_has not in body):
        raise BenchError(f"check failed: {what}: expected {status}"
                         f"{' with ' + body_has.decode() if body_has else ''}, got {got}: "
                         f"{body[:300].decode(errors='replace')}")
    have = {k.lower(): v for k, v in got_headers}
    if header is not None:
        if have.get(header[0]) != header[1]:
            raise BenchError(f"check failed: {what}: expected header {header[0]}: {header[1]}, "
                             f"got {have.get(header[0])!r}")
    if has_header is not None and not have.get(has_header):
        raise BenchError(f"check failed: {what}: no {has_header} header in the answer "
                         f"(headers: {sorted(have)})")
    if json_body:
        try:
            json.loads(body)
        except ValueError as e:
            raise BenchError(f"check failed: {what}: the body is not JSON ({e}): "
                             f"{body[:300].decode(errors='replace')}") from e
    log(f"ok: {what} -> {got}")
    return have, body


class EchoUpstream:
    """A throwaway upstream for the checks, in a thread of this process: answers like the
    benchmark upstream (the same body mark) and tells in its body what it received: whether an
    Authorization header came, the request id and the key id the gateway sent."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the gateways expect of an upstream

            def do_GET(self) -> None:
                h = self.headers
                body = json.dumps({
                    "ok": True, "service": "bench-upstream",
                    "saw_authorization": h.get("Authorization") is not None,
                    "request_id": h.get("X-Request-Id"),
                    "key_id": h.get("X-Api-Key-Id") or h.get("X-Errata-Key-Id"),
                }, separators=(",", ":")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def check_gateway(name: str, port: int, bearer: dict[str, str], unknown: str,
                  key_id: str | None) -> None:
    """The checks of a gateway in front of the EchoUpstream: the key is checked and stripped,
    the upstream and the client get the same request id, rejections are JSON with an id."""
    have, body = expect(f"{name} with the key (echo upstream)", port, bearer, 200,
                        UPSTREAM_BODY_MARK, json_body=True, has_header="x-request-id")
    seen = json.loads(body)
    if seen["saw_authorization"]:
        raise BenchError(f"check failed: {name}: the upstream received the Authorization header")
    if seen["request_id"] != have["x-request-id"]:
        raise BenchError(f"check failed: {name}: the upstream got request id "
                         f"{seen['request_id']!r}, the client {have['x-request-id']!r}")
    if key_id is not None and seen["key_id"] != key_id:
        raise BenchError(f"check failed: {name}: the upstream got key id {seen['key_id']!r}, "
                         f"expected {key_id!r}")
    log(f"ok: {name}: the upstream saw no Authorization header, request id "
        f"{seen['request_id']} (the client's too), key id {seen['key_id']}")
    for what, headers in (("without a key", None),
                          ("with an unknown key", {"Authorization": f"Bearer {unknown}"})):
        expect(f"{name} {what} (echo upstream)", port, headers, 401, b'"error"', json_body=True,
               has_header="x-request-id")


# --------------------------------------------------------------------------------------------
# wrk


@dataclass
class Target:
    name: str
    port: int
    headers: dict[str, str]
    expect_status: int  # 200 = every response 2xx; otherwise every response is non-2xx
    group: int  # the process group whose CPU is charged to this target (the proxy)
    path: str = "/"
    # "wrk" (HTTP/1.1, keep-alive) or "h2load" (HTTP/2 by ALPN); "https" for the TLS rows.
    tool: str = "wrk"
    scheme: str = "http"
    # For a rejection target: how many 2xx a run may have (nginx's tiniest limit, 1 request a
    # minute, lets one through now and then).
    max_ok: int = 0
    rows: list[dict] = field(default_factory=list)


UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def first_group(tool: str, out: str, pattern: str) -> str:
    """The first group of `pattern` in a load tool's output, or a clear error."""
    m = re.search(pattern, out, re.M)
    if not m:
        raise BenchError(f"unexpected {tool} output (no {pattern!r}):\n{out}")
    return m.group(1)


def parse_wrk(out: str) -> dict:
    def num(pattern: str) -> str:
        return first_group("wrk", out, pattern)

    def lat(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            raise BenchError(f"unexpected wrk output (no {p}% latency):\n{out}")
        return float(m.group(1)) * UNIT[m.group(2)]

    requests = int(num(r"^\s+(\d+) requests in"))
    non2xx_m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(num(r"^Requests/sec:\s+([\d.]+)")),
        "p50_ms": lat("50"),
        "p99_ms": lat("99"),
        "requests": requests,
        "non2xx": int(non2xx_m.group(1)) if non2xx_m else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
        "socket_detail": (f"connect {sock.group(1)}, read {sock.group(2)}, write "
                          f"{sock.group(3)}, timeout {sock.group(4)}") if sock else "none",
    }


def run_wrk(t: Target, args, cpus: str | None, *, connections: int | None = None,
            duration: int | None = None, strict: bool = True) -> dict:
    """One wrk run. `strict`: fail on a wrong status (otherwise only count them)."""
    if t.tool == "h2load":
        return run_h2load(t, args, cpus)
    c = connections or args.connections
    argv = ["wrk", f"-t{args.wrk_threads}", f"-c{c}", f"-d{duration or args.duration}s",
            "--latency", "--timeout", "10s"]
    for k, v in t.headers.items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(f"{t.scheme}://127.0.0.1:{t.port}{t.path}")
    row, out = drive(t, argv, cpus, parse_wrk)
    if not strict:
        return row
    if t.expect_status == 200 and row["non2xx"]:
        raise BenchError(f"{t.name}: {row['non2xx']} of {row['requests']} responses were not "
                         f"2xx during the run:\n{out}")
    if t.expect_status != 200 and row["non2xx"] < row["requests"] - t.max_ok:
        raise BenchError(f"{t.name}: only {row['non2xx']} of {row['requests']} responses were "
                         f"rejections during the run:\n{out}")
    if row["socket_errors"]:
        log(f"warning: {t.name}: socket errors during the run: {out.strip()}")
    return row


def drive(t: Target, argv: list[str], cpus: str | None, parse) -> tuple[dict, str]:
    """Runs a load tool against `t`; its parsed row with the CPU of `t`'s process group per
    request, and the tool's output."""
    if cpus:
        argv = ["taskset", "-c", cpus, *argv]
    cpu0 = group_cpu_seconds(t.group)
    r = subprocess.run(argv, capture_output=True, text=True)
    cpu1 = group_cpu_seconds(t.group)
    if r.returncode != 0:
        raise BenchError(f"{argv[0]} failed on {t.name}:\n{r.stdout}{r.stderr}")
    row = parse(r.stdout)
    n = max(1, row["requests"])
    row["proxy_user_us_per_req"] = (cpu1[0] - cpu0[0]) * 1e6 / n
    row["proxy_sys_us_per_req"] = (cpu1[1] - cpu0[1]) * 1e6 / n
    row["proxy_cpu_us_per_req"] = row["proxy_user_us_per_req"] + row["proxy_sys_us_per_req"]
    return row, r.stdout


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, all its threads, live and exited."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read().decode()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


DRAIN_IDLE = 1.5  # seconds of no CPU that end a drain: longer than errata's 1 s log flush
DRAIN_MAX = 10.0


def drain(pid: int) -> tuple[float, float]:
    """Waits until `pid` has used no CPU (at most one clock tick) for DRAIN_IDLE seconds, at
    most DRAIN_MAX; the CPU seconds it used meanwhile and the seconds waited (idle tail
    included). The idle window is longer than the request log's flush interval, so a flush
    that was due when the load stopped has run before it ends."""
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    c0 = process_cpu_seconds(pid)
    samples = [(t0, c0)]
    while True:
        time.sleep(0.1)
        now, c = time.monotonic(), process_cpu_seconds(pid)
        samples.append((now, c))
        if now - t0 >= DRAIN_MAX:
            break
        window = [(t, v) for t, v in samples if t >= now - DRAIN_IDLE - 1e-9]
        if now - t0 >= DRAIN_IDLE and window and c - window[0][1] <= tick + 1e-9:
            break
    return c - c0, now - t0


H2_STREAMS = 5  # concurrent streams per HTTP/2 connection: connections / 5 of them, 5 each


def parse_h2load(out: str) -> dict:
    def num(pattern: str) -> str:
        return first_group("h2load", out, pattern)

    done = int(num(r"^requests: \d+ total, \d+ started, (\d+) done"))
    failed = sum(int(num(rf"^requests: .* (\d+) {w}")) for w in ("failed", "errored", "timeout"))
    codes = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out, re.M)
    if not codes:
        raise BenchError(f"unexpected h2load output (no status codes):\n{out}")
    m = re.search(r"^time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+"
                  r"([\d.]+)(us|ms|s)", out, re.M)
    mean = float(m.group(5)) * UNIT[m.group(6)] if m else float("nan")
    return {
        "rps": float(num(r"^finished in [\d.]+m?s, ([\d.]+) req/s")),
        # h2load reports the mean, not percentiles: p50 holds the mean, p99 is unknown.
        "p50_ms": mean,
        "p99_ms": float("nan"),
        "requests": done,
        "non2xx": int(codes.group(2)) + int(codes.group(3)) + int(codes.group(4)),
        "socket_errors": failed,
        "socket_detail": f"{failed} failed, errored or timed out",
    }


def run_h2load(t: Target, args, cpus: str | None) -> dict:
    """One h2load run: HTTP/2 over TLS, args.connections streams in flight in all."""
    clients = max(1, args.connections // H2_STREAMS)
    argv = ["h2load", f"-c{clients}", f"-m{H2_STREAMS}", f"-t{args.wrk_threads}",
            f"-D{args.duration}", "--warm-up-time=0"]
    for k, v in t.headers.items():
        argv += ["-H", f"{k.lower()}: {v}"]
    argv.append(f"https://127.0.0.1:{t.port}{t.path}")
    row, out = drive(t, argv, cpus, parse_h2load)
    if "Application protocol: h2" not in out:
        raise BenchError(f"{t.name}: h2load did not negotiate HTTP/2:\n{out}")
    if row["non2xx"] or row["socket_errors"]:
        raise BenchError(f"{t.name}: {row['non2xx']} non-2xx and {row['socket_errors']} failed "
                         f"of {row['requests']} requests:\n{out}")
    return row


# --------------------------------------------------------------------------------------------
# Memory


MEMORY_CONNECTIONS = 2000
MEMORY_OPEN_MAX_MB = 100.0   # target: resident memory with MEMORY_CONNECTIONS open
MEMORY_GROWTH_MAX_MB = 20.0  # target: after they closed, at most this much above idle


def status_mb(pid: int, field_name: str) -> float:
    """A memory line of /proc/<pid>/status (VmRSS, VmHWM: the whole process) in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    raise BenchError(f"no {field_name} in /proc/{pid}/status")


def lazy_free_mb(pid: int) -> float | None:
    """Memory the allocator has freed with MADV_FREE (still in VmRSS until the kernel takes it
    back), from /proc/<pid>/smaps_rollup; None where the kernel does not say."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("LazyFree:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def read_answer(s: socket.socket) -> int:
    """Reads one HTTP/1.1 response off a socket (Content-Length or chunked); its status."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise BenchError("the connection closed before an answer")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if "content-length" in hdrs:
        need = int(hdrs["content-length"])
        while len(rest) < need:
            chunk = s.recv(65536)
            if not chunk:
                raise BenchError("the connection closed inside an answer")
            rest += chunk
    elif "chunked" in hdrs.get("transfer-encoding", ""):
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise BenchError("the connection closed inside an answer")
            rest += chunk
    return status


def still_open(s: socket.socket) -> bool:
    """The server has not closed this idle keep-alive connection."""
    try:
        s.setblocking(False)
        try:
            return s.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            return True
        finally:
            s.setblocking(True)
    except OSError:
        return False


def measure_memory(pid: int, port: int, key: str, procs: Procs) -> dict:
    """errata's resident memory idle, with MEMORY_CONNECTIONS keep-alive connections open (each
    has sent one request with the key and read the answer) and a few seconds after they all
    closed; then the same once more (does what stayed get reused, or grow again?)."""
    request = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: Bearer {key}\r\n\r\n").encode()
    # Warm: a few answered requests, then a quiet second.
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(request)
            read_answer(s)
    time.sleep(1.0)
    before = status_mb(pid, "VmRSS")

    def cycle() -> tuple[float, int, dict[int, int], float]:
        """Opens the connections, measures, closes them all: (MB while open, how many were
        still open then, answers by status, seconds to open them)."""
        socks: list[socket.socket] = []
        statuses: dict[int, int] = {}
        t0 = time.monotonic()
        try:
            for _ in range(MEMORY_CONNECTIONS):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                socks.append(s)
                s.sendall(request)
                st = read_answer(s)
                statuses[st] = statuses.get(st, 0) + 1
            opened_in = time.monotonic() - t0
            time.sleep(1.0)
            procs.check_alive()
            open_mb = status_mb(pid, "VmRSS")
            alive = sum(1 for s in socks if still_open(s))
        finally:
            for s in socks:
                s.close()
        return open_mb, alive, statuses, opened_in

    open_mb, alive, statuses, opened_in = cycle()
    time.sleep(3.0)
    after = status_mb(pid, "VmRSS")
    after_lazy = lazy_free_mb(pid)
    # Once more: memory kept for reuse stays put, a leak grows by about as much again.
    open2_mb, _, _, _ = cycle()
    time.sleep(3.0)
    after2 = status_mb(pid, "VmRSS")
    peak = status_mb(pid, "VmHWM")
    return {"before_mb": before, "open_mb": open_mb, "after_mb": after, "peak_mb": peak,
            "after_lazy_free_mb": after_lazy, "open2_mb": open2_mb, "after2_mb": after2,
            "connections": MEMORY_CONNECTIONS, "still_open": alive, "statuses": statuses,
            "opened_in_s": opened_in,
            "open_ok": open_mb < MEMORY_OPEN_MAX_MB,
            "growth_ok": after - before <= MEMORY_GROWTH_MAX_MB}


# --------------------------------------------------------------------------------------------
# The request log A/B


def metric(admin_port: int, token: str, name: str) -> float | None:
    """One counter from errata's admin /metrics (Prometheus text), None when absent."""
    try:
        status, _, body = get(admin_port, "/metrics", {"Authorization": f"Bearer {token}"})
    except OSError:
        return None
    if status != 200:
        return None
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name) and not line.startswith("#"):
            try:
                return float(line.rsplit(None, 1)[1])
            except (ValueError, IndexError):
                return None
    return 0.0  # a counter shows once it has counted something


def count_log_rows(db: Path) -> int | None:
    """The request log's records in errata's SQLite store: rows of `request_log` and the
    records of `request_log_chunks` (whichever the store has)."""
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = "
                                              "'table'")}
            n = 0
            if "request_log" in tables:
                n += int(c.execute("SELECT count(*) FROM request_log").fetchone()[0])
            if "request_log_chunks" in tables:
                n += int(c.execute("SELECT COALESCE(SUM(record_count), 0) FROM "
                                   "request_log_chunks").fetchone()[0])
            return n
        finally:
            c.close()
    except sqlite3.Error as e:
        log(f"could not count the request log's records in {db}: {e}")
        return None


ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"


def log_ab(args, errata: Path, wtmp: Path, workers: int, up_port: int, procs: Procs, env,
           server_cpus: str | None, client_cpus: str | None) -> dict:
    """errata with its request log on and off, the same config otherwise (each with its own
    SQLite file and key), in alternating rounds; after each run, errata's CPU is counted until
    it has been idle DRAIN_IDLE s (the log flushed what the run queued)."""
    arms: dict[str, dict] = {}
    for name, on in (("on", True), ("off", False)):
        port, admin = free_port(), free_port()
        conf = wtmp / f"errata-log-{name}.toml"
        db = wtmp / f"errata-log-{name}.db"
        conf.write_text(errata_conf(request_log=on, port=port, upstream_port=up_port, tmp=wtmp,
                                    admin_port=admin, workers=workers)
                        .replace(f"sqlite://{wtmp}/errata-keys.db", f"sqlite://{db}"))
        key = create_key(errata, conf, f"bench-log-{name}", [])
        proc = procs.start(f"errata (request log {name})",
                           [str(errata), "serve", "--config", str(conf)], env=env,
                           cpus=server_cpus, stderr_path=wtmp / f"errata-log-{name}.log")
        wait_for_port(port, procs, f"errata (request log {name})")
        bearer = {"Authorization": f"Bearer {key}"}
        expect(f"errata (request log {name}) with the key", port, bearer, 200,
               UPSTREAM_BODY_MARK)
        arms[name] = {"proc": proc, "admin": admin, "db": db, "checks": 1,
                      "target": Target(f"errata, request log {name}", port, bearer, 200,
                                       proc.pid)}
    # Both idle before the first run (startup done, the check request flushed).
    for a in arms.values():
        drain(a["proc"].pid)
    for rnd in range(args.rounds):
        order = ["on", "off"] if rnd % 2 == 0 else ["off", "on"]
        for name in order:
            procs.check_alive()
            t = arms[name]["target"]
            row = run_wrk(t, args, client_cpus)
            cpu, secs = drain(arms[name]["proc"].pid)
            n = max(1, row["requests"])
            row["drain_cpu_s"] = cpu
            row["drain_s"] = secs
            row["cpu_us_per_req_flushed"] = row["proxy_cpu_us_per_req"] + cpu * 1e6 / n
            t.rows.append(row)
            log(f"log A/B round {rnd + 1}/{args.rounds} log {name:<3} {row['rps']:>9.0f} req/s  "
                f"p99 {row['p99_ms']:.3f} ms  CPU {row['proxy_cpu_us_per_req']:.1f} µs/req "
                f"during wrk, {row['cpu_us_per_req_flushed']:.1f} with the {secs:.1f} s after")
    out: dict = {}
    for name, a in arms.items():
        # Counted while it runs: the drain after its last run saw the flush through.
        dropped = metric(a["admin"], ADMIN_TOKEN, "errata_request_log_dropped_total")
        records = count_log_rows(a["db"])
        procs.stop(a["proc"])
        answered = sum(r["requests"] for r in a["target"].rows) + a["checks"]
        out[name] = {"rows": a["target"].rows, "answered": answered, "dropped": dropped,
                     "records": records}
    return out


def log_ab_report(ab: dict) -> str:
    on, off = ab["on"], ab["off"]
    lines = []
    rows = []
    for name, a in (("on", on), ("off", off)):
        r = a["rows"]
        rows.append([f"request log {name}", f"{med(r, 'rps'):.0f}", f"{med(r, 'p99_ms'):.3f}",
                     f"{med(r, 'proxy_cpu_us_per_req'):.1f}",
                     f"{med(r, 'cpu_us_per_req_flushed'):.1f}",
                     f"{med(r, 'drain_s'):.1f}",
                     " / ".join(f"{x['cpu_us_per_req_flushed']:.1f}" for x in r)])
    lines.append(table(["errata, key, proxied", "req/s", "p99 ms", "CPU µs/req in run",
                        "CPU µs/req + flush", "after s", "CPU + flush per round"], rows))
    c_on = med(on["rows"], "cpu_us_per_req_flushed")
    c_off = med(off["rows"], "cpu_us_per_req_flushed")
    diff = c_on - c_off
    lines.append("")
    lines.append(f"- request log on − off: **{diff:+.1f} µs/request** "
                 f"({diff / c_off:+.0%} of the CPU with it off); req/s "
                 f"{med(on['rows'], 'rps') / med(off['rows'], 'rps'):.2f}x, p99 "
                 f"{med(on['rows'], 'p99_ms') / med(off['rows'], 'p99_ms'):.2f}x (on ÷ off)")
    rec, ans, drop = on["records"], on["answered"], on["dropped"]
    lines.append(f"- log on: {rec if rec is not None else 'n/a'} records written for {ans} "
                 f"requests wrk counted (it does not count those still in flight when a run "
                 f"ends, up to one per connection); dropped (errata_request_log_dropped_total): "
                 f"{f'{drop:.0f}' if drop is not None else 'n/a'}. Log off: "
                 f"{off['records'] if off['records'] is not None else 'n/a'} records")
    return "\n".join(lines)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table, the first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(r) for r in rows)])


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A P-256 certificate for 127.0.0.1 and localhost, the same one for nginx and errata."""
    cert, key = tmp / "tls-cert.pem", tmp / "tls-key.pem"
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"openssl could not make the benchmark's certificate:\n{r.stderr}")
    return cert, key


# --------------------------------------------------------------------------------------------
# Report


def machine_facts() -> dict:
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "nginx": version([nginx_bin(), "-v"]),
        "haproxy": version([haproxy_bin(), "-v"]),
        "wrk": version(["wrk", "-v"]),
        "rustc": version(["rustc", "--version"]),
    }


def source_state() -> str:
    """The commit measured and whether the working tree differs (read-only git calls)."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, env=env,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, env=env, capture_output=True, text=True).stdout
    except OSError:
        return "unknown (no git)"
    n = len(dirty.splitlines())
    return f"{head or 'unknown'}" + (f" + {n} uncommitted file(s)" if n else "")


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def fmt(v: float, spec: str, suffix: str = "") -> str:
    return "n/a" if v != v else f"{v:{spec}}{suffix}"


def report(targets: list[Target], baseline: str) -> str:
    base = next(t for t in targets if t.name == baseline)
    b_rps, b_p50, b_p99 = med(base.rows, "rps"), med(base.rows, "p50_ms"), med(base.rows, "p99_ms")
    head = (f"| {'target':<34} | {'req/s':>9} | {'p50 ms':>7} | {'p99 ms':>7} | "
            f"{'req/s vs nginx':>14} | {'p50 vs nginx':>12} | {'p99 vs nginx':>12} | "
            f"{'CPU µs/req (user+sys)':>21} | {'CPU vs nginx':>12} | {'req/s per round':<26} |")
    lines = [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
    b_cpu = med(base.rows, "proxy_cpu_us_per_req")
    for t in targets:
        rps, p50, p99 = med(t.rows, "rps"), med(t.rows, "p50_ms"), med(t.rows, "p99_ms")
        cpu_ratio = med(t.rows, "proxy_cpu_us_per_req") / b_cpu if b_cpu else 0.0
        cpu = (f"{med(t.rows, 'proxy_cpu_us_per_req'):.1f} "
               f"({med(t.rows, 'proxy_user_us_per_req'):.1f}+"
               f"{med(t.rows, 'proxy_sys_us_per_req'):.1f})")
        rounds = " / ".join(f"{r['rps']:.0f}" for r in t.rows)
        lines.append(
            f"| {t.name:<34} | {rps:>9.0f} | {fmt(p50, '.3f'):>7} | {fmt(p99, '.3f'):>7} | "
            f"{rps / b_rps:>13.2f}x | {fmt(p50 / b_p50, '.2f', 'x'):>12} | "
            f"{fmt(p99 / b_p99, '.2f', 'x'):>12} | "
            f"{cpu:>21} | {cpu_ratio:>11.2f}x | {rounds:<26} |")
    return "\n".join(lines)


NGINX_GW = "nginx-gw (auth + limit + proxy)"
NGINX_GW_401 = "nginx-gw 401 (no key)"
NGINX_GW_429 = "nginx-gw 429 (rate limited)"
HAPROXY_GW = "HAProxy-gw (auth + limit + proxy)"
HAPROXY_GW_401 = "HAProxy-gw 401 (no key)"


def lead_report(targets: list[Target]) -> str:
    """errata against the two gateway peers, with plain nginx beside them: for each errata row,
    errata ÷ peer for req/s, CPU µs per request and p99. Proxied rows against the peers'
    proxied rows; errata's rejections (401, 429) against the peers' 401 (no key)."""
    by = {t.name: t for t in targets}
    proxied = [by.get(NGINX_GW), by.get(HAPROXY_GW), by.get("nginx proxy")]
    rejected = [by.get(NGINX_GW_401), by.get(HAPROXY_GW_401), by.get("nginx static 401")]

    def ratio(t: Target, ref: Target | None, key: str) -> str:
        if ref is None or not ref.rows:
            return "n/a"
        b = med(ref.rows, key)
        return fmt(med(t.rows, key) / b if b else float("nan"), ".2f", "x")

    peers = [t for t in (*proxied, *rejected, by.get(NGINX_GW_429)) if t is not None]
    peer_rows = [[t.name, f"{med(t.rows, 'rps'):.0f}",
                  f"{med(t.rows, 'proxy_cpu_us_per_req'):.1f}", fmt(med(t.rows, "p99_ms"), ".3f")]
                 for t in peers]
    rows = []
    for t in targets:
        if not t.name.startswith("errata"):
            continue
        refs = proxied if t.expect_status == 200 else rejected
        rows.append([t.name, f"{med(t.rows, 'rps'):.0f}",
                     f"{med(t.rows, 'proxy_cpu_us_per_req'):.1f}",
                     fmt(med(t.rows, "p99_ms"), ".3f"),
                     *(ratio(t, r, "rps") for r in refs),
                     *(ratio(t, r, "proxy_cpu_us_per_req") for r in refs),
                     *(ratio(t, r, "p99_ms") for r in refs)])
    out = [table(["peer", "req/s", "CPU µs/req", "p99 ms"], peer_rows), "",
           table(["errata", "req/s", "CPU µs/req", "p99 ms",
                  "req/s ÷ nginx-gw", "÷ HAProxy-gw", "÷ nginx plain",
                  "CPU ÷ nginx-gw", "÷ HAProxy-gw", "÷ nginx plain",
                  "p99 ÷ nginx-gw", "÷ HAProxy-gw", "÷ nginx plain"], rows)]
    e429, n429 = by.get("errata 429 (rate limited)"), by.get(NGINX_GW_429)
    if e429 is not None and n429 is not None and e429.rows and n429.rows:
        out += ["", f"- 429 against 429: errata ÷ nginx-gw 429: req/s {ratio(e429, n429, 'rps')}, "
                    f"CPU {ratio(e429, n429, 'proxy_cpu_us_per_req')}, p99 "
                    f"{ratio(e429, n429, 'p99_ms')}"]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Main


def print_results(args, results: list[dict], build_secs: float | None, started: float,
                  errata: Path, failed: str | None = None) -> None:
    """The report on stdout (and --json): every finished set of worker counts. `failed`: why
    the run stopped early (the sets that finished are still reported)."""
    facts = machine_facts()
    total = time.monotonic() - started
    print()
    print(f"errata load benchmark — {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    built = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(errata.stat().st_mtime))
    print(f"source: {source_state()}; errata binary built {built}"
          f"{' (--no-build: may predate the source)' if args.no_build else ''}")
    if failed:
        print(f"INCOMPLETE RUN: stopped by: {failed.splitlines()[0]}; only the set(s) of worker "
              f"counts that finished before are below")
    print(f"machine: {facts['nproc']} CPUs, {facts['cpu']}, Linux {facts['kernel']}")
    print(f"tools: {facts['nginx']}; {' '.join(facts['haproxy'].split()[:3])}; "
          f"{facts['wrk'].split(' Copyright')[0]}; {facts['rustc']}")
    print(f"wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s; "
          f"{'pinned: wrk on CPU 0, servers on CPU 1' if args.pin else 'not pinned'}")
    info_row = (" (one extra row with RUST_LOG=info: an access log line per request to a "
                "file)" if args.access_log else "")
    print(f"logging, the same for every target: no access log — nginx (plain and gw) "
          f"access_log off, HAProxy no `log` line, errata RUST_LOG=warn{info_row}; "
          f"errata's request log ([request_log], records to its SQLite store, flushed every "
          f"second) on, as by default{' (off in the A/B off arm)' if args.log_ab else ''}; "
          f"the log's flush still pending when an errata run ends is not in that row's CPU "
          f"(it runs during the next run; the A/B counts it)")
    print(f"gateway peers: {GW_KEYS} API keys in each one's map (errata's benchmark key "
          f"among them; errata's own store has its 2 keys); nginx-gw and HAProxy-gw run "
          f"as their own instances beside plain nginx")
    print(f"release build: {f'{build_secs:.1f} s' if build_secs is not None else 'skipped'}; "
          f"whole run {total:.0f} s")
    print(f"median of {args.rounds} interleaved rounds; 'CPU µs/req' is the CPU time (user + "
          f"system, all threads) of the process answering — the upstream, nginx (master + "
          f"workers) or errata — per request; not the upstream's or wrk's")
    for r in results:
        w = r["workers"]
        print()
        print(f"### {w} worker(s): upstream {w} thread(s), nginx worker_processes {w}, "
              f"errata workers = {w}")
        print(f"load before: {r['load_before']} ({r['busy_before']:.0%} busy); after: "
              f"{r['load_after']} ({r['busy_after']:.0%} busy)")
        print()
        print("errata against nginx and HAProxy as API gateways (ratios are errata ÷ peer: "
              "req/s above 1 and CPU, p99 below 1 favour errata); errata's proxied rows "
              f"against '{NGINX_GW}', '{HAPROXY_GW}' and 'nginx proxy', its 401/429 rows "
              f"against '{NGINX_GW_401}', '{HAPROXY_GW_401}' and 'nginx static 401'")
        print()
        print(lead_report(r["plain"]))
        print()
        print("every row (ratios against nginx as a plain proxy):")
        print()
        print(report(r["plain"], "nginx proxy"))
        if r["tls_h1"]:
            print()
            print(f"TLS (the same P-256 certificate; errata with the key, auth + rate limit "
                  f"+ proxy; nginx a plain proxy). HTTP/1.1: wrk -c{args.connections} "
                  f"keep-alive. HTTP/2: h2load -c{max(1, args.connections // H2_STREAMS)} "
                  f"-m{H2_STREAMS} ({args.connections} streams in flight), which reports "
                  f"a mean latency (in the p50 column) and no p99.")
            print()
            print(report(r["tls_h1"], "nginx proxy, TLS HTTP/1.1"))
            print()
            print(report(r["tls_h2"], "nginx proxy, TLS HTTP/2"))
        for c, row, refused in r["many"]:
            print(f"- {c} connections for {args.many_duration} s, one valid key: "
                  f"{row['requests']} requests, {row['rps']:.0f} req/s, p99 "
                  f"{row['p99_ms']:.1f} ms, non-2xx {row['non2xx']}, socket errors "
                  f"{row['socket_detail']}: **{refused} refused**")
        m = r["memory"]
        if m is not None:
            def ok(b: bool) -> str:
                return "ok" if b else "OVER TARGET"

            lazy = (f"{m['after_lazy_free_mb']:.1f} MB" if m["after_lazy_free_mb"] is not None
                    else "n/a")
            print(f"- memory (a fresh errata, VmRSS, all threads): idle "
                  f"{m['before_mb']:.1f} MB; with {m['connections']} keep-alive connections "
                  f"open ({m['still_open']} still open when measured, each had one answer: "
                  f"{', '.join(f'{n}x {st}' for st, n in sorted(m['statuses'].items()))}) "
                  f"**{m['open_mb']:.1f} MB** (target < {MEMORY_OPEN_MAX_MB:.0f} MB: "
                  f"{ok(m['open_ok'])}); 3 s after they all closed **{m['after_mb']:.1f} MB**, "
                  f"{m['after_mb'] - m['before_mb']:+.1f} MB over idle (target <= "
                  f"{MEMORY_GROWTH_MAX_MB:.0f} MB: {ok(m['growth_ok'])}); peak "
                  f"(VmHWM) {m['peak_mb']:.1f} MB; of the 'after', freed by the allocator but "
                  f"not yet taken back by the kernel (LazyFree): {lazy}; a second "
                  f"{m['connections']} opened and closed the same way: {m['open2_mb']:.1f} MB "
                  f"open, {m['after2_mb']:.1f} MB after (memory kept for reuse stays put, a "
                  f"leak grows again)")
        if r["log_ab"] is not None:
            print()
            print(f"request log A/B: two fresh errata instances, [request_log] enabled = "
                  f"true / false, the same config otherwise (each its own SQLite file and "
                  f"key), {args.rounds} rounds alternating on/off; 'CPU + flush' counts "
                  f"errata's CPU from the start of each wrk run until it has been idle "
                  f"{DRAIN_IDLE} s after it (at most {DRAIN_MAX:.0f} s; 'after s')")
            print()
            print(log_ab_report(r["log_ab"]))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": facts, "build_seconds": build_secs,
            "args": {k: str(v) for k, v in vars(args).items()},
            "sets": [{"workers": r["workers"], "load_before": r["load_before"],
                      "load_after": r["load_after"],
                      "targets": {t.name: t.rows for t in r["targets"]},
                      "many": [{"connections": c, "refused": n, **row}
                               for c, row, n in r["many"]],
                      "memory": r["memory"],
                      "log_ab": r["log_ab"]} for r in results],
        }, indent=2))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--workers", default="1,2",
                    help="comma-separated worker counts, one full set of runs each (default "
                         "1,2); workers of each server: nginx worker_processes, errata's "
                         "`workers` (one thread and runtime each) and the upstream's threads")
    ap.add_argument("--pin", action="store_true",
                    help="pin wrk to CPU 0 and the servers to CPU 1 (taskset)")
    ap.add_argument("--no-access-log", dest="access_log", action="store_false",
                    help="skip the second errata instance with RUST_LOG=info (a JSON access "
                         "log line per request, written to a file in the temp dir)")
    ap.add_argument("--no-build", action="store_true", help="skip the release build")
    ap.add_argument("--profile", choices=["release", "dev"], default="release",
                    help="binaries to run (default release); dev only checks the script's "
                         "flow end to end without a release build")
    ap.add_argument("--no-redis", dest="redis", action="store_false",
                    help="skip errata with Redis counters (needs redis-server otherwise)")
    ap.add_argument("--redis-cluster", action=argparse.BooleanOptionalAction, default=False,
                    help="also run errata with counters on a throwaway Redis Cluster (3 masters "
                         "with a replica each, redis+cluster://) beside the single Redis")
    ap.add_argument("--no-tls", dest="tls", action="store_false",
                    help="skip the TLS rows: nginx and errata terminating TLS, HTTP/1.1 with "
                         "wrk and HTTP/2 with h2load (needs h2load and openssl otherwise)")
    ap.add_argument("--max-wait", type=int, default=120,
                    help="seconds to wait for the machine to go quiet before measuring "
                         "(default 120)")
    ap.add_argument("--many", type=lambda v: [int(x) for x in v.split(",") if x.strip()],
                    default=[1000, 2000],
                    help="connection counts for the many-connections mode: errata with one "
                         "valid key, counting refused requests (default 1000,2000; '' skips)")
    ap.add_argument("--many-duration", type=int, default=15,
                    help="seconds per many-connections run (default 15)")
    ap.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True,
                    help=f"errata's resident memory (VmRSS) idle, with "
                         f"{MEMORY_CONNECTIONS} keep-alive connections open and a few seconds "
                         f"after they closed, on a fresh instance (default on, ~10 s per worker "
                         f"count); targets: < {MEMORY_OPEN_MAX_MB:.0f} MB open, growth "
                         f"<= {MEMORY_GROWTH_MAX_MB:.0f} MB")
    ap.add_argument("--log-ab", action=argparse.BooleanOptionalAction, default=False,
                    help="A/B of errata's request log ([request_log] enabled = true / false, "
                         "the same config otherwise), rounds alternating on and off, errata's "
                         "CPU counted until the log has flushed after each run (default off: "
                         "~2 x rounds x (duration + 2) s per worker count, over a minute at "
                         "the defaults)")
    ap.add_argument("--otlp", type=lambda v: [float(x) for x in v.split(",") if x.strip()],
                    default=[], metavar="PERCENTS",
                    help="also run errata exporting spans over OTLP/HTTP to bench/otlp-sink.py, "
                         "one instance per sampling percentage (e.g. 1,100); default none")
    ap.add_argument("--json", type=Path, help="also write the raw results to this file")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (configs, logs)")
    args = ap.parse_args()

    procs = Procs()
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = max(soft, min(hard, 65536))
        if want > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):
        pass

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    tmp = Path(tempfile.mkdtemp(prefix="errata-bench-"))
    started = time.monotonic()
    results: list[dict] = []
    build_secs: float | None = None
    errata = Path()
    try:
        ensure_tools(args.tls)
        build_secs = build(args.no_build, args.profile)
        tdir = target_dir() / ("release" if args.profile == "release" else "debug")
        if args.profile != "release":
            log("warning: --profile dev checks the script's flow; its numbers mean nothing")
        errata = tdir / "errata"
        upstream_bin = tdir / "examples" / "bench_upstream"
        for b in (errata, upstream_bin):
            if not b.exists():
                raise BenchError(f"{b} is missing: run without --no-build")
        if args.pin and (os.cpu_count() or 1) < 2:
            raise BenchError("--pin needs at least 2 CPUs")
        client_cpus = "0" if args.pin else None
        server_cpus = "1" if args.pin else None
        worker_counts = [int(x) for x in str(args.workers).split(",") if x.strip()]
        if not worker_counts or min(worker_counts) < 1:
            raise BenchError("--workers takes counts of at least 1, e.g. 1,2")
        for w in worker_counts:
            wtmp = tmp / f"workers-{w}"
            wtmp.mkdir()
            log(f"--- servers with {w} worker(s) each")

            up_port, ng_port, er_port, er_admin = free_port(), free_port(), free_port(), free_port()
            ng_static = free_port()
            log(f"temp dir {wtmp}")
            cert = key_pem = None
            ng_tls = er_tls_port = 0
            tls_server = ""
            if args.tls:
                cert, key_pem = self_signed(wtmp)
                ng_tls = free_port()
                tls_server = NGINX_TLS_SERVER.format(tls_port=ng_tls, cert=cert, key=key_pem,
                                                     proxy_location=PROXY_LOCATION)

            # Upstream.
            up = procs.start("upstream", [str(upstream_bin), f"127.0.0.1:{up_port}", str(w)],
                             cpus=server_cpus, stderr_path=wtmp / "upstream.log")
            wait_for_port(up_port, procs, "the upstream")

            # nginx.
            conf = wtmp / "nginx.conf"
            conf.write_text(NGINX_CONF.format(workers=w, tmp=wtmp, upstream_port=up_port,
                                              port=ng_port, static_port=ng_static,
                                              tls_server=tls_server,
                                              proxy_location=PROXY_LOCATION))
            r = subprocess.run([nginx_bin(), "-t", "-q", "-p", str(wtmp), "-e",
                                str(wtmp / "nginx-error.log"), "-c", str(conf)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise BenchError(f"nginx rejected its config:\n{r.stderr}")
            ng = procs.start("nginx", [nginx_bin(), "-p", str(wtmp), "-e",
                                       str(wtmp / "nginx-error.log"), "-c", str(conf)],
                             cpus=server_cpus, stderr_path=wtmp / "nginx-stderr.log")
            wait_for_port(ng_port, procs, "nginx")

            # errata: config, keys, then the gateway.
            econf = wtmp / "errata.toml"
            econf.write_text(errata_conf(port=er_port, upstream_port=up_port, tmp=wtmp,
                                                admin_port=er_admin, workers=w))
            key = create_key(errata, econf, "bench", [])
            limited = create_key(errata, econf, "bench-limited", ["--rate", "1",
                                                                  "--per-seconds", "3600"])
            unknown = "errata_live_" + "0" * 32  # well-formed, never issued
            env = dict(os.environ, RUST_LOG="warn")
            er = procs.start("errata", [str(errata), "serve", "--config", str(econf)], env=env,
                             cpus=server_cpus, stderr_path=wtmp / "errata.log")
            wait_for_port(er_port, procs, "errata")
            er_log = None
            if args.access_log:
                lconf = wtmp / "errata-log.toml"
                lport, ladmin = free_port(), free_port()
                lconf.write_text(errata_conf(port=lport, upstream_port=up_port, tmp=wtmp,
                                                    admin_port=ladmin, workers=w))
                er_log = procs.start("errata (access log)",
                                     [str(errata), "serve", "--config", str(lconf)],
                                     env=dict(env, RUST_LOG="info"), cpus=server_cpus,
                                     stderr_path=wtmp / "errata-access.log")
                wait_for_port(lport, procs, "errata (access log)")

            # errata with Redis counters (the multi-instance mode), on a throwaway redis-server.
            er_redis = None
            if args.redis:
                redis_bin = shutil.which("redis-server")
                if redis_bin is None:
                    raise BenchError("redis-server is missing (apt-get install redis-server), "
                                     "or pass --no-redis")
                rport = free_port()
                procs.start("redis", [redis_bin, "--port", str(rport), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                            cpus=server_cpus, stderr_path=wtmp / "redis.log")
                wait_for_port(rport, procs, "redis-server")
                rconf = wtmp / "errata-redis.toml"
                redis_port, redis_admin = free_port(), free_port()
                rconf.write_text(errata_conf(port=redis_port, upstream_port=up_port, tmp=wtmp,
                                                    admin_port=redis_admin, workers=w)
                                 .replace('counters = "memory://"',
                                          f'counters = "redis://127.0.0.1:{rport}"'))
                er_redis = procs.start("errata (redis counters)",
                                       [str(errata), "serve", "--config", str(rconf)], env=env,
                                       cpus=server_cpus, stderr_path=wtmp / "errata-redis.log")
                wait_for_port(redis_port, procs, "errata (redis counters)")

            # errata with counters on a Redis Cluster: three masters with a replica each, on
            # the same cores, and the gateway told every node as a seed.
            er_cluster = None
            if args.redis and args.redis_cluster:
                seeds = start_redis_cluster(procs, redis_bin, wtmp, server_cpus)
                cconf = wtmp / "errata-cluster.toml"
                cluster_port, cluster_admin = free_port(), free_port()
                cconf.write_text(errata_conf(port=cluster_port, upstream_port=up_port, tmp=wtmp,
                                             admin_port=cluster_admin, workers=w)
                                 .replace('counters = "memory://"',
                                          f'counters = "redis+cluster://{seeds}"'))
                er_cluster = procs.start("errata (Redis Cluster counters)",
                                         [str(errata), "serve", "--config", str(cconf)], env=env,
                                         cpus=server_cpus,
                                         stderr_path=wtmp / "errata-cluster.log")
                wait_for_port(cluster_port, procs, "errata (Redis Cluster counters)")

            # errata exporting spans (`[tracing] otlp`), one instance per sampling ratio, each
            # to its own sink (Python's standard library; its CPU is not in errata's).
            er_otlp = []
            for pct in args.otlp:
                sink_port, oport, oadmin = free_port(), free_port(), free_port()
                procs.start(f"otlp sink ({pct:g}%)",
                            [sys.executable, str(Path(__file__).parent / "otlp-sink.py"),
                             "--port", str(sink_port)],
                            stderr_path=wtmp / f"otlp-sink-{pct:g}.log")
                wait_for_port(sink_port, procs, "otlp sink")
                oconf = wtmp / f"errata-otlp-{pct:g}.toml"
                oconf.write_text(errata_conf(port=oport, upstream_port=up_port, tmp=wtmp,
                                             admin_port=oadmin, workers=w)
                                 + f'\n[tracing]\notlp = "http://127.0.0.1:{sink_port}"\n'
                                 + f"sample = {pct / 100}\n")
                name = f"errata, OTLP export at {pct:g}%"
                p = procs.start(name, [str(errata), "serve", "--config", str(oconf)], env=env,
                                cpus=server_cpus, stderr_path=wtmp / f"errata-otlp-{pct:g}.log")
                wait_for_port(oport, procs, name)
                er_otlp.append((name, oport, p))

            # errata terminating TLS (HTTP/2 and HTTP/1.1 by ALPN), the same certificate.
            er_tls = None
            if args.tls:
                tconf = wtmp / "errata-tls.toml"
                er_tls_port, tls_admin = free_port(), free_port()
                tconf.write_text(errata_conf(port=er_tls_port, upstream_port=up_port,
                                                    tmp=wtmp, admin_port=tls_admin, workers=w)
                                 + f'\n[tls]\ncert = "{cert}"\nkey = "{key_pem}"\n')
                er_tls = procs.start("errata (TLS)", [str(errata), "serve", "--config", str(tconf)],
                                     env=env, cpus=server_cpus, stderr_path=wtmp / "errata-tls.log")
                wait_for_port(er_tls_port, procs, "errata (TLS)")

            # The gateway peers: the same 1,000 keys in each one's map, errata's two among them.
            bearer = {"Authorization": f"Bearer {key}"}
            write_gateway_maps(wtmp, gateway_keys(key, limited))
            ngw_port, hgw_port = free_port(), free_port()

            def start_nginx_gw(upstream_port: int) -> subprocess.Popen:
                c = wtmp / "nginx-gw.conf"
                c.write_text(nginx_gw_conf(wtmp, w, ngw_port, upstream_port))
                r = subprocess.run([nginx_bin(), "-t", "-q", "-p", str(wtmp), "-e",
                                    str(wtmp / "nginx-gw-error.log"), "-c", str(c)],
                                   capture_output=True, text=True)
                if r.returncode != 0 or r.stderr.strip():
                    raise BenchError(f"nginx rejected (or warned about) the gateway config "
                                     f"{c}:\n{r.stderr}")
                p = procs.start("nginx-gw", [nginx_bin(), "-p", str(wtmp), "-e",
                                             str(wtmp / "nginx-gw-error.log"), "-c", str(c)],
                                cpus=server_cpus, stderr_path=wtmp / "nginx-gw-stderr.log")
                wait_for_port(ngw_port, procs, "nginx-gw")
                return p

            def start_haproxy_gw(upstream_port: int) -> subprocess.Popen:
                c = wtmp / "haproxy-gw.conf"
                c.write_text(haproxy_gw_conf(wtmp, w, hgw_port, upstream_port))
                r = subprocess.run([haproxy_bin(), "-c", "-q", "-f", str(c)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise BenchError(f"HAProxy rejected the gateway config {c}:\n"
                                     f"{r.stdout}{r.stderr}")
                p = procs.start("HAProxy-gw", [haproxy_bin(), "-db", "-f", str(c)],
                                cpus=server_cpus, stderr_path=wtmp / "haproxy-gw-stderr.log",
                                cwd=wtmp)
                wait_for_port(hgw_port, procs, "HAProxy-gw")
                return p

            # First each gateway (errata too) in front of a throwaway upstream that tells what
            # it received: no Authorization header, the request id the client got, the key id.
            echo = EchoUpstream()
            try:
                ngw = start_nginx_gw(echo.port)
                hgw = start_haproxy_gw(echo.port)
                xconf = wtmp / "errata-echo.toml"
                xport, xadmin = free_port(), free_port()
                xconf.write_text(errata_conf(port=xport, upstream_port=echo.port, tmp=wtmp,
                                             admin_port=xadmin, workers=w))
                xer = procs.start("errata (echo check)",
                                  [str(errata), "serve", "--config", str(xconf)], env=env,
                                  cpus=server_cpus, stderr_path=wtmp / "errata-echo.log")
                wait_for_port(xport, procs, "errata (echo check)")
                check_gateway("nginx-gw", ngw_port, bearer, unknown, "key_bench")
                check_gateway("HAProxy-gw", hgw_port, bearer, unknown, "key_bench")
                check_gateway("errata", xport, bearer, unknown, None)
                for p in (ngw, hgw, xer):
                    procs.stop(p)
            finally:
                echo.close()
            ngw = start_nginx_gw(up_port)
            hgw = start_haproxy_gw(up_port)

            # Checks, before any measuring.
            expect("upstream direct", up_port, None, 200, UPSTREAM_BODY_MARK)
            expect("nginx", ng_port, None, 200, UPSTREAM_BODY_MARK)
            expect("nginx static 401", ng_static, None, 401, b"error")
            for name, port in (("nginx-gw", ngw_port), ("HAProxy-gw", hgw_port)):
                expect(f"{name} with the key", port, bearer, 200, UPSTREAM_BODY_MARK,
                       has_header="x-request-id")
                expect(f"{name} without a key", port, None, 401, b'"missing_api_key"',
                       json_body=True, has_header="x-request-id")
            expect("nginx-gw, limited key, 1st request", ngw_port,
                   {"Authorization": f"Bearer {limited}"}, 200, UPSTREAM_BODY_MARK)
            expect("nginx-gw, limited key, 2nd request", ngw_port,
                   {"Authorization": f"Bearer {limited}"}, 429, b'"rate_limited"',
                   json_body=True, has_header="x-request-id")
            # The limiter ran: its headers carry the plan's limit.
            expect("errata with the key", er_port, bearer, 200, UPSTREAM_BODY_MARK,
                   header=("x-ratelimit-limit", "100000000"))
            expect("errata public route, no key", er_port, None, 200, UPSTREAM_BODY_MARK,
                   path="/public/")
            expect("errata without a key", er_port, None, 401, b"error")
            expect("errata with an unknown key", er_port, {"Authorization": f"Bearer {unknown}"},
                   401, b"error")
            expect("errata, limited key, 1st request", er_port,
                   {"Authorization": f"Bearer {limited}"}, 200, UPSTREAM_BODY_MARK)
            expect("errata, limited key, 2nd request", er_port,
                   {"Authorization": f"Bearer {limited}"}, 429, b"error")
            if er_log is not None:
                expect("errata (access log) with the key", lport, bearer, 200, UPSTREAM_BODY_MARK)
            if er_tls is not None:
                expect("nginx over TLS", ng_tls, None, 200, UPSTREAM_BODY_MARK, ca=cert)
                expect("errata over TLS with the key", er_tls_port, bearer, 200,
                       UPSTREAM_BODY_MARK, header=("x-ratelimit-limit", "100000000"), ca=cert)
            for name, oport, _ in er_otlp:
                expect(f"{name} with the key", oport, bearer, 200, UPSTREAM_BODY_MARK)
            if er_redis is not None:
                expect("errata (redis counters) with the key", redis_port, bearer, 200,
                       UPSTREAM_BODY_MARK, header=("x-ratelimit-limit", "100000000"))
            if er_cluster is not None:
                expect("errata (Redis Cluster counters) with the key", cluster_port, bearer, 200,
                       UPSTREAM_BODY_MARK, header=("x-ratelimit-limit", "100000000"))

            targets = [
                Target("upstream direct", up_port, {}, 200, up.pid),
                Target("nginx proxy", ng_port, {}, 200, ng.pid),
                Target("nginx static 401", ng_static, {}, 401, ng.pid),
                Target(NGINX_GW, ngw_port, bearer, 200, ngw.pid),
                Target(NGINX_GW_401, ngw_port, {}, 401, ngw.pid),
                # nginx's tiniest rate is 1 request a minute: one may pass now and then.
                Target(NGINX_GW_429, ngw_port, {"Authorization": f"Bearer {limited}"}, 429,
                       ngw.pid, max_ok=1 + args.duration // 60),
                Target(HAPROXY_GW, hgw_port, bearer, 200, hgw.pid),
                Target(HAPROXY_GW_401, hgw_port, {}, 401, hgw.pid),
                Target("errata (auth + rate limit + proxy)", er_port, bearer, 200, er.pid),
                Target("errata public route (proxy only)", er_port, {}, 200, er.pid, "/public/"),
            ]
            if er_redis is not None:
                # 'proxy CPU' counts errata only; redis-server's share is not in it.
                targets.append(Target("errata, Redis counters", redis_port, bearer, 200,
                                      er_redis.pid))
            if er_cluster is not None:
                # As above: the six redis-servers' share is not in errata's CPU.
                targets.append(Target("errata, Redis Cluster counters", cluster_port, bearer,
                                      200, er_cluster.pid))
            if er_log is not None:
                targets.append(Target("errata, access log on", lport, bearer, 200, er_log.pid))
            for name, oport, p in er_otlp:
                targets.append(Target(name, oport, bearer, 200, p.pid))
            targets += [
                Target("errata 401 (no key)", er_port, {}, 401, er.pid),
                Target("errata 401 (unknown key)", er_port,
                       {"Authorization": f"Bearer {unknown}"}, 401, er.pid),
                Target("errata 429 (rate limited)", er_port,
                       {"Authorization": f"Bearer {limited}"}, 429, er.pid),
            ]
            tls_h1: list[Target] = []
            tls_h2: list[Target] = []
            if er_tls is not None:
                tls_h1 = [
                    Target("nginx proxy, TLS HTTP/1.1", ng_tls, {}, 200, ng.pid, scheme="https"),
                    Target("errata, TLS HTTP/1.1", er_tls_port, bearer, 200, er_tls.pid,
                           scheme="https"),
                ]
                tls_h2 = [
                    Target("nginx proxy, TLS HTTP/2", ng_tls, {}, 200, ng.pid, tool="h2load",
                           scheme="https"),
                    Target("errata, TLS HTTP/2", er_tls_port, bearer, 200, er_tls.pid,
                           tool="h2load", scheme="https"),
                ]
            plain = list(targets)
            targets += tls_h1 + tls_h2

            # Wait for a quiet machine (someone else compiling skews everything).
            busy = cpu_busy_fraction()
            waited = 0
            while busy > 0.15 and waited < args.max_wait:
                log(f"machine is {busy:.0%} busy (load {loadavg()}); waiting for it to go quiet")
                time.sleep(8)
                waited += 10
                busy = cpu_busy_fraction()
            if busy > 0.15:
                log(f"warning: still {busy:.0%} busy after {waited} s; measuring anyway")
            load_before, busy_before = loadavg(), busy

            est = args.rounds * len(targets) * (args.duration + 0.3)
            log(f"measuring: {len(targets)} targets x {args.rounds} rounds x {args.duration} s "
                f"(~{est:.0f} s); machine {busy_before:.0%} busy, load {load_before}")
            for rnd in range(args.rounds):
                # Interleaved, and rotated each round so no target always runs first.
                order = targets[rnd % len(targets):] + targets[:rnd % len(targets)]
                for t in order:
                    procs.check_alive()
                    row = run_wrk(t, args, client_cpus)
                    t.rows.append(row)
                    log(f"round {rnd + 1}/{args.rounds} {t.name:<34} {row['rps']:>9.0f} req/s  "
                        f"p50 {row['p50_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms  "
                        f"CPU {row['proxy_cpu_us_per_req']:.1f} µs/req "
                        f"({row['proxy_user_us_per_req']:.1f} user + "
                        f"{row['proxy_sys_us_per_req']:.1f} sys)")

            many = []
            for c in args.many:
                procs.check_alive()
                t = Target(f"errata with the key, {c} connections", er_port, bearer, 200, er.pid)
                row = run_wrk(t, args, client_cpus, connections=c, duration=args.many_duration,
                              strict=False)
                refused = row["non2xx"] + row["socket_errors"]
                log(f"{t.name}: {row['requests']} requests, {row['rps']:.0f} req/s, "
                    f"{row['non2xx']} non-2xx, socket errors {row['socket_detail']}, refused {refused}")
                many.append((c, row, refused))

            memory = None
            if args.memory:
                mconf = wtmp / "errata-memory.toml"
                mport, madmin = free_port(), free_port()
                mconf.write_text(errata_conf(port=mport, upstream_port=up_port, tmp=wtmp,
                                             admin_port=madmin, workers=w))
                mer = procs.start("errata (memory)", [str(errata), "serve", "--config",
                                                      str(mconf)], env=env, cpus=server_cpus,
                                  stderr_path=wtmp / "errata-memory.log")
                wait_for_port(mport, procs, "errata (memory)")
                memory = measure_memory(mer.pid, mport, key, procs)
                procs.stop(mer)
                log(f"memory: {memory['before_mb']:.1f} MB idle, {memory['open_mb']:.1f} MB "
                    f"with {memory['still_open']} of {MEMORY_CONNECTIONS} connections open, "
                    f"{memory['after_mb']:.1f} MB after they closed")

            ab = None
            if args.log_ab:
                ab = log_ab(args, errata, wtmp, w, up_port, procs, env, server_cpus,
                            client_cpus)
            results.append({"workers": w, "targets": targets, "plain": plain,
                            "tls_h1": tls_h1, "tls_h2": tls_h2, "many": many,
                            "memory": memory, "log_ab": ab,
                            "load_before": load_before, "busy_before": busy_before,
                            "load_after": loadavg(), "busy_after": cpu_busy_fraction(1.0)})
            procs.stop_all()
        print_results(args, results, build_secs, started, errata)
        return 0
    except BenchError as e:
        log(f"error: {e}")
        log(f"logs kept in {tmp}")
        args.keep_tmp = True
        if results:
            log(f"reporting the {len(results)} set(s) of worker counts that finished")
            print_results(args, results, build_secs, started, errata, failed=str(e))
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        procs.stop_all()
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            log(f"temp dir kept: {tmp}")


if __name__ == "__main__":
    sys.exit(main())
