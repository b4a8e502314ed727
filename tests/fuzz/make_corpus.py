#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets, tests/fuzz/corpus/<target>/,
from the repository's sample logs (tests/data/logs, a copy of ../shared/logs),
the spec's golden files and example configuration, and its own configurations.

Each seed is laid out as its target reads its bytes (see agent/*/*_fuzz.cc).
Deterministic: running it again rewrites the same files. Seeds the fuzzers
found themselves (checkpoint_reader, spool_reader, matcher: binary or grammar
inputs no text file resembles) are kept, not rewritten.

    tests/fuzz/make_corpus.py
"""
import hashlib
import os
import re
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
LOGS = os.path.join(ROOT, "tests", "data", "logs")
EDGE = os.path.join(LOGS, "edge-cases")
GOLDEN = os.path.join(ROOT, "tests", "data", "spec", "golden")
EXAMPLE = os.path.join(ROOT, "tests", "data", "spec", "example-config.yaml")
MAX_SEED = 4096  # bytes: seeds stay small, the fuzzers grow them


def read(path):
    with open(path, "rb") as f:
        return f.read()


def lines(path, n, start=0):
    return read(path).split(b"\n")[start:start + n]


def head(path, size=MAX_SEED):
    data = read(path)[:size]
    return data


class Corpus:
    def __init__(self, target):
        self.dir = os.path.join(OUT, target)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)

    def add(self, data):
        data = data[:MAX_SEED]
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)


def tail(*consumed):
    """FuzzedDataProvider takes integers from the end of the input, the first
    one consumed from the last byte: the bytes that give `consumed` in order."""
    return bytes(reversed(consumed))


def log_files():
    return sorted(os.path.join(LOGS, f) for f in os.listdir(LOGS) if f.endswith(".log"))


def edge_files():
    return sorted(os.path.join(EDGE, f) for f in os.listdir(EDGE))


def golden_files():
    return sorted(os.path.join(GOLDEN, f) for f in os.listdir(GOLDEN))


def yaml_configs():
    found = [EXAMPLE]
    for d in ("config", "tests/data/rules", "packaging/container"):
        full = os.path.join(ROOT, d)
        found += sorted(os.path.join(full, f) for f in os.listdir(full) if f.endswith(".yaml"))
    return found


def config_loader():
    c = Corpus("config_loader")
    for path in yaml_configs():
        text = read(path)
        c.add(text)
        # Each top-level section on its own, and the file without it.
        sections = re.split(rb"\n(?=[a-z_]+:)", text)
        for i, s in enumerate(sections):
            c.add(s)
            c.add(b"\n".join(sections[:i] + sections[i + 1:]))


def rule_set():
    # agent/rules/rule_set_fuzz.cc: byte 0 picks the configuration (even: the
    # example, odd: real-logs.yaml) and the source, (byte / 2) % sources.
    example = {0: os.path.join(GOLDEN, "shop.log"), 1: os.path.join(GOLDEN, "access.log"),
               2: os.path.join(GOLDEN, "accounts.jsonl"), 3: os.path.join(GOLDEN, "local.events")}
    real = {0: os.path.join(LOGS, "elastic-examples_apache_access_combined_2k.log"),
            1: os.path.join(LOGS, "loghub_Apache_2k.log"), 2: os.path.join(LOGS, "loghub_OpenSSH_2k.log"),
            3: os.path.join(LOGS, "loghub_HealthApp_2k.log"), 4: os.path.join(LOGS, "loghub_Zookeeper_2k.log"),
            5: os.path.join(LOGS, "loghub_Linux_2k.log"), 6: os.path.join(GOLDEN, "accounts.jsonl"),
            7: os.path.join(EDGE, "fluent-bit_tail_multiline_001.log"), 8: os.path.join(GOLDEN, "local.events")}
    c = Corpus("rule_set")
    for config, sources in ((0, example), (1, real)):
        for source, path in sources.items():
            selector = bytes([config + 2 * source])
            for start in (0, 7, 300):
                chunk = lines(path, 6, start)
                if chunk and any(chunk):
                    c.add(selector + b"\n".join(chunk))
    c.add(b"\x0c" + b"\n".join(lines(os.path.join(EDGE, "beats_es_json_logs_tests.log"), 4)))


def templates():
    found = set()
    for path in yaml_configs():
        found.update(re.findall(rb'"([^"\n]*\{\{[^"\n]*)"', read(path)))
    return sorted(found)


def template():
    # agent/rules/template_fuzz.cc: the template, '\n', the line (text: "a b c",
    # or a JSON object for the JSON source).
    c = Corpus("template")
    samples = [lines(os.path.join(GOLDEN, "shop.log"), 1)[0], lines(os.path.join(GOLDEN, "accounts.jsonl"), 1)[0],
               b'user 42 {"a":{"b":[1,2]},"c":"x"}', b"10/Oct/2000:13:55:36 -0700 12.5 2026-01-20T06:30:01Z"]
    for i, t in enumerate(templates()):
        c.add(t + b"\n" + samples[i % len(samples)])
    for t in (b"{{ a }}", b"{{ b | int }}", b"{{ c | json }}", b"{{ a | default('x') | upper }}",
              b"{{ a | timestamp('%d/%b/%Y:%H:%M:%S %z') }}", b"{{ _line | sha256 }}", b"x {{ a }} y {{ b | trim }}",
              b"{{ c.a.b }}", b"{{ b | number }}", b"{{ b | bool }}", b"{{ a | timestamp }}"):
        for s in samples:
            c.add(t + b"\n" + s)


def json_writer():
    c = Corpus("json_writer")
    for path in log_files() + edge_files() + golden_files():
        c.add(head(path, 512))


def envelope():
    # agent/decode/envelope_fuzz.cc: from the end, docker (odd) or cri,
    # max_line_bytes - 1, skip (odd) or truncate, wrap (odd); the lines first.
    c = Corpus("envelope")
    docker = [os.path.join(EDGE, "beats_docker_corrupted.log"), os.path.join(EDGE, "fluent-bit_tail_dockermode_splitted_line.log")]
    for path in docker:
        for settings in (tail(1, 63, 0, 0), tail(1, 7, 1, 0), tail(1, 63, 0, 1), tail(1, 15, 0, 1)):
            c.add(head(path, 1024) + settings)
    cri = b"\n".join([b"2026-01-20T06:30:01.000000000Z stdout P part one ",
                      b"2026-01-20T06:30:01.000000001Z stdout F part two",
                      b"2026-01-20T06:30:02.000000000Z stderr F an error",
                      b"2026-01-20T06:30:03Z stdout F", b"not cri at all"])
    for settings in (tail(0, 63, 0, 0), tail(0, 3, 1, 0), tail(0, 63, 0, 1)):
        c.add(cri + settings)
    for path in log_files()[:4]:
        c.add(b"\n".join(lines(path, 8)) + tail(0, 31, 0, 1))


def timestamp():
    # agent/rules/timestamp_fuzz.cc: from the end, a format index (10: a
    # format from the front) and a zone; from the front, another text, then the text.
    c = Corpus("timestamp")
    stamps = [(0, b"2026-01-20T06:30:01Z"), (1, b"2026-01-20 06:30:01.123+01:00"), (0, b"2026-03-08T02:30:00"),
              (0, b"2026-11-01T01:30:00.999999999-0500"), (2, b"10/Oct/2000:13:55:36 -0700"),
              (3, b"2026-01-20 06:30:01"), (4, b"Jun 14 15:16:01"), (5, b"081109 203615"),
              (6, b"2026-01-20T06:30:01+05:30"), (7, b"1768890601"), (8, b"2026-01-20T06:30:01"),
              (9, b"Tue, 20 Jan 2026 06:30:01 GMT"), (0, b"9999-12-31T23:59:59.999Z"), (0, b"0000-01-01T00:00:00Z")]
    for path in (os.path.join(LOGS, "loghub_Zookeeper_2k.log"), os.path.join(LOGS, "loghub_HealthApp_2k.log")):
        for line in lines(path, 3):
            stamps.append((3, line[:23]))
    for i, (fmt, text) in enumerate(stamps):
        for zone in (0, 1):
            other = stamps[(i + 1) % len(stamps)][1]
            c.add(other + b"\\;" + text + tail(fmt, zone))
    c.add(b"%Y%m%d %H\\;" + b"20260121 07\\;" + b"20260120 06" + tail(10, 0))


def encoding():
    c = Corpus("encoding")
    for path in edge_files():
        c.add(head(path, 1024))
    c.add("José, naïve café".encode("latin-1"))
    c.add("“quotes” – € …".encode("cp1252"))
    c.add("\ufeffline one\r\nline two 😀\n".encode("utf-16-le"))
    c.add("\ufeffline one\r\nline two 😀\n".encode("utf-16-be"))
    c.add(b"\xef\xbb\xbfBOM then text")
    c.add(b"\x00\xd8\x41\x00\x00\xdc")  # a lone high and a lone low surrogate


def line_framer():
    # agent/source/line_framer_fuzz.cc: from the end, units, max_line_bytes - 1,
    # skip (odd), then each read's length - 1; the reads' bytes from the front.
    c = Corpus("line_framer")

    def reads(settings, data, size):
        pieces = [data[at:at + size] for at in range(0, len(data), size)]
        return data + tail(*settings, *(len(p) - 1 for p in pieces))

    texts = [b"\n".join(lines(p, 4)) + b"\n" for p in log_files()[:5]]
    texts.append(b"a\r\nb\n\n\nccc\r\r\n" + "é€😀".encode() * 6 + b"\nend")
    for i, text in enumerate(texts):
        for units, width in ((0, 40), (1, 16)):
            c.add(reads((units, width - 1, i & 1), text[:600], min(40, 7 + i * 5)))
    utf16 = "one\r\ntwo\nthree 😀 four\n".encode("utf-16-le")
    c.add(reads((2, 11, 0), utf16, 9))
    c.add(reads((3, 11, 1), "one\r\ntwo\n😀😀😀😀 x\n".encode("utf-16-be"), 5))
    c.add(reads((2, 39, 0), head(os.path.join(EDGE, "vector_utf-16le.log")), 20))


def admin_request():
    # agent/admin/admin_request_fuzz.cc: the request, then the largest read.
    c = Corpus("admin_request")
    requests = [b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", b"GET /status?format=json HTTP/1.1\r\nHost: a\r\n\r\n",
                b"HEAD /metrics HTTP/1.1\r\n\r\n", b"GET /healthz HTTP/1.0\r\n\r\n", b"GET /readyz#x HTTP/1.1\r\n\r\n",
                b"POST /status HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", b"\r\n\r\nGET /status HTTP/1.1\r\n\r\n",
                b"GET http://host:9464/metrics HTTP/1.1\r\n\r\n", b"OPTIONS * HTTP/1.1\r\n\r\n",
                b"GET / HTTP/1.1\r\nX: " + b"a" * 200 + b"\r\n\r\nGET /second HTTP/1.1\r\n\r\n",
                b"GET /\x00 HTTP/1.1\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"BREW /pot HTCPCP/1.0\r\n\r\n",
                b"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"]
    for i, r in enumerate(requests):
        c.add(r + bytes([255]))
        c.add(r + bytes([3 + i]))


def retry_after():
    # agent/send/retry_after_fuzz.cc: the value; from the end, 5 bytes of the
    # date's offset from now, then the date's form.
    c = Corpus("retry_after")
    for value in (b"120", b"0", b"3600", b"99999999", b"", b" 5", b"5 ", b"-1", b"1.5",
                  b"Tue, 20 Jan 2026 06:31:01 GMT", b"Tuesday, 20-Jan-26 06:31:01 GMT", b"Tue Jan 20 06:31:01 2026",
                  b"Mon, 19 Jan 2026 06:31:01 GMT", b"Fri, 31 Dec 9999 23:59:59 GMT", b"Thu, 01 Jan 1970 00:00:00 GMT",
                  b"tomorrow", b"Tue, 20 Jan 2026 06:31:01 +0100"):
        for form in (0, 1, 2):
            c.add(value + bytes([form]) + struct.pack("<Q", 400_000_000 + 60 * (form + 1))[:5])


def config_values():
    # agent/config/config_values_fuzz.cc: the variables' value (ended by a
    # backslash and one more byte), the text; at the end, secret (odd).
    c = Corpus("config_values")
    texts = [b"250ms", b"1m30s", b"1h", b"1d2h3m4s5ms", b"0s", b"-5s", b"9223372036854775807ms", b"5",
             b"512", b"512B", b"500KiB", b"64 MiB", b"1GiB", b"1TiB", b"10KB", b"5mb", b"18446744073709551615",
             b"${HOME}", b"${WRITE_KEY}", b"${UNSET}", b"${UNSET:-default}", b"${EMPTY:-fallback}",
             b"${UNSET:?set it please}", b"$$literal", b"end$", b"${", b"${1BAD}", b"${A:-${B}}",
             b"https://${HOST:-localhost}:${PORT:-8080}/v1/batch"]
    for i, t in enumerate(texts):
        c.add(b"value\\;" + t + bytes([i & 1]))
    for path in yaml_configs()[:2]:
        for line in read(path).split(b"\n"):
            if b"${" in line:
                c.add(b"x\\;" + line.strip() + b"\x00")


def main():
    for make in (config_loader, rule_set, template, json_writer, envelope, timestamp, encoding, line_framer,
                 admin_request, retry_after, config_values):
        make()
    total = 0
    for target in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, target))
        size = sum(os.path.getsize(os.path.join(OUT, target, f)) for f in files)
        total += size
        print(f"{target}: {len(files)} seeds, {size} bytes")
    print(f"total {total} bytes")


if __name__ == "__main__":
    sys.exit(main())
