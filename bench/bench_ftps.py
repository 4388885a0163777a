"""Benchmark: FTPS publication vs a plain ``ftplib`` upload of the same file, on loopback.

Server: Debian's vsftpd started here (needs root) on a loopback port with TLS enabled and the
Debian default ``require_ssl_reuse=YES``, TLS not forced so that plain FTP works too. Client
side, alternating, ``--runs`` times each, same file:

- baseline: ``ftplib.FTP.storbinary`` (plain FTP, stdlib defaults) — the target is ours >= 0.8x;
- stdlib over TLS: ``storbinary`` over our session-reusing ``FTP_TLS`` (stock ``FTP_TLS`` is
  refused by vsftpd), to show the cost of encryption alone;
- ours: :meth:`xop.connections.ftps.FtpsClient.upload` (TLS, temporary name, SHA-256 in the same pass,
  size check, rename);
- ours, whole publication: :func:`xop.backup.publish` (upload + SHA256SUMS + MANIFEST.json);
- curl over FTPS (libcurl + OpenSSL, C), if installed: an independent ceiling of the server's
  TLS receive path, which on this setup (vsftpd decrypting on loopback) is the bottleneck.

Medians are compared. Run from the repo root as root: ``.venv/bin/python bench/bench_ftps.py``.
"""

from __future__ import annotations

import argparse
import ftplib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))

from tests.publish.conftest import make_tls_cert, start_vsftpd
from xop.backup import FtpSpec, ImageSpec, PublicationSpec, publish
from xop.connections.ftps import FtpsClient, SessionReusingFTP_TLS


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=256, help="file size in MiB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="xop-bench-ftps-") as scratch:
        work = Path(scratch)
        cert = make_tls_cert(work)
        proc, server, server_dir = start_vsftpd(cert, force_tls=False)
        try:
            run(server, work, args.mb, args.runs)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            shutil.rmtree(server_dir, ignore_errors=True)


def run(server, work: Path, mb: int, runs: int) -> None:
    s = server.settings
    source = work / "image.bin"
    with source.open("wb") as out:
        for _ in range(mb):
            out.write(os.urandom(1 << 20))
    size = source.stat().st_size

    def plain(name: str) -> None:
        ftp = ftplib.FTP()
        ftp.connect(s.host, s.port)
        ftp.login(s.login, s.password)
        with source.open("rb") as handle:
            ftp.storbinary(f"STOR {name}", handle)
        ftp.quit()

    def stdlib_tls(name: str) -> None:
        ftp = SessionReusingFTP_TLS(context=s.ssl_context())
        ftp.connect(s.host, s.port)
        ftp.login(s.login, s.password)
        ftp.prot_p()
        with source.open("rb") as handle:
            ftp.storbinary(f"STOR {name}", handle)
        ftp.quit()

    def ours(name: str) -> None:
        with FtpsClient(settings=s) as client:
            client.upload(source, folder="/", name=name)

    spec = PublicationSpec(ftp=FtpSpec(folder="/pub", retention=100))

    def whole(name: str) -> None:
        publish(
            spec,
            customer="bench",
            now=datetime.now(UTC),
            files=[ImageSpec(path=source, name=name)],
            client=FtpsClient(settings=s),
        )

    netrc = work / "netrc"
    netrc.write_text(f"machine {s.host} login {s.login} password {s.password}\n")
    netrc.chmod(0o600)

    def curl_tls(name: str) -> None:
        subprocess.run(
            [
                *("curl", "-sS", "--ssl-reqd", "--cacert", str(s.ca_file), "--netrc-file", str(netrc)),
                *("-T", str(source), f"ftp://{s.host}:{s.port}/{name}"),
            ],
            check=True,
        )

    cases = {"plain ftplib (no TLS)": plain, "stdlib storbinary, TLS": stdlib_tls, "ours: upload": ours}
    cases["ours: whole publication"] = whole
    if shutil.which("curl"):
        cases["curl, TLS"] = curl_tls
    times: dict[str, list[float]] = {label: [] for label in cases}
    ours("warmup.bin")
    for n in range(runs):
        for label, action in cases.items():
            name = f"r{n}-{label.split(':')[0].split()[0]}.bin"
            times[label].append(timed(lambda action=action, name=name: action(name)))
            for leftover in server.root.rglob("r*.bin"):
                leftover.unlink()
        print(f"run {n + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)

    base = statistics.median(times["plain ftplib (no TLS)"])
    print()
    print(f"file size {size / 2**20:.0f} MiB, vsftpd on loopback, medians of {runs} runs")
    for label, values in times.items():
        t = statistics.median(values)
        print(f"{label:26s} {t:7.2f} s  {size / t / 2**20:8.1f} MiB/s  throughput ratio {base / t:.2f}")
    ours_t = statistics.median(times["ours: upload"])
    tls_t = statistics.median(times["stdlib storbinary, TLS"])
    print("target: ours >= 0.80 of the plain ftplib throughput")
    print(
        f"ours vs plain ftplib (no TLS): {base / ours_t:.2f}; vs stdlib ftplib over TLS: {tls_t / ours_t:.2f}"
    )


if __name__ == "__main__":
    main()
