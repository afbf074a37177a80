"""Posts every file under a folder to a running `serve` as a query image (POST /api/search) and tallies the
answers; then checks the server still answers a good query, lists its gallery and serves every indexed image.
Usage: python3 serve_uploads.py BASE_URL FOLDER   (prints one summary block; the good query is the gallery's first image)"""
import collections
import json
import os
import struct
import sys
import time
import urllib.error
import urllib.request
import zlib


def post(base, body, timeout=60):
    req = urllib.request.Request(base + "/api/search?k=3", data=body, method="POST",
                                 headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
        return -1, "no answer: %s" % e


def get(base, path, timeout=60):
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
        return -1, str(e).encode()


def thin_png(width, height):
    """A valid grey PNG of width x height (zeros), a few KB: within the pixel limit, far too thin to resize."""
    raw = zlib.compress((b"\x00" + b"\x00" * width) * height, 9)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def one_line_error(body):
    try:
        e = json.loads(body).get("error", "")
    except ValueError:
        return None
    if not e or "\n" in e or "Exception" in e or "\tat " in e or len(e) > 300:
        return None
    return e


def main():
    base, folder = sys.argv[1], sys.argv[2]
    status, listing = get(base, "/api/images")
    images = json.loads(listing)["images"] if status == 200 else []
    indexed = set(os.path.join(folder, im["path"]) for im in images)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)
    uploads = [(f, open(f, "rb").read()) for f in files]
    uploads += [("thin 30000000 x 1 PNG", thin_png(30_000_000, 1)), ("thin 1 x 2000000 PNG", thin_png(1, 2_000_000))]
    statuses = collections.Counter()
    messages = collections.Counter()
    examples = {}
    problems = []
    slowest = 0.0
    disagree = []
    log = open(os.environ["UPLOAD_LOG"], "w") if os.environ.get("UPLOAD_LOG") else None
    for name, body in uploads:
        t0 = time.monotonic()
        status, text = post(base, body)
        slowest = max(slowest, time.monotonic() - t0)
        statuses[status] += 1
        if log:
            log.write("%s\t%d\t%s\n" % (name, status, text.replace("\n", " ")[:300]))
        if name in files and (status == 200) != (name in indexed):
            disagree.append("%s: %s in the gallery, upload HTTP %d" % (name, "is" if name in indexed else "not", status))
        if status == 200:
            continue  # an intact image: a search result
        line = one_line_error(text)
        if not 400 <= status < 500 or line is None:
            problems.append("%s: HTTP %d %s" % (name, status, text[:200]))
        else:
            kind = line.split(" (")[0].split(":")[0][:90]
            messages[kind] += 1
            examples.setdefault(kind, line)
    print("uploads: %d files (%d of the hostile set + 2 thin PNGs), slowest answer %.2f s" % (len(uploads), len(files), slowest))
    print("  status counts: " + ", ".join("%s %d" % (s, n) for s, n in sorted(statuses.items())))
    for m, n in messages.most_common():
        print("  %4d x %s  e.g. %s" % (n, m, examples[m]))
    print("  not a one-line 4xx error: %d" % len(problems))
    for p in problems[:10]:
        print("    " + p)
    print("  files whose upload disagrees with the folder index (accepted iff indexed): %d" % len(disagree))
    for d in disagree[:10]:
        print("    " + d)
    good = os.path.join(folder, images[0]["path"])
    status, text = post(base, open(good, "rb").read())
    print("good query afterwards: HTTP %d, %d neighbours" % (status, len(json.loads(text)["neighbors"]) if status == 200 else -1))
    status, listing = get(base, "/api/images")
    images = json.loads(listing)["images"] if status == 200 else []
    served = collections.Counter(get(base, "/image/%d" % im["id"])[0] for im in images)
    print("gallery: HTTP %d, %d images indexed; GET /image/{id} for each: %s" % (
        status, len(images), ", ".join("%s %d" % (s, n) for s, n in sorted(served.items()))))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
