"""Benchmark: import a generated CSV of N contacts (default 1,000,000) and print rows/s
and peak memory. A benchmark prints figures; it does not pass or fail.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tayori_bench \\
        .venv/bin/python bench/import_contacts.py [--rows 1000000] [--encoding cp932]

The database is migrated first; each run imports into a fresh organisation (slug
``bench-<timestamp>``) which is left in place unless ``--cleanup`` is given. The file
(Japanese names and companies, 0.5% invalid addresses, 0.5% duplicates, 0.2% old
Japanese mobile addresses, tags) is generated deterministically (seed 42) to a temporary
file, then read and imported exactly as ``manage.py import_contacts`` does.

Peak memory is this process's maximum resident set size (``ru_maxrss``), which includes
Python, Django and the file's bytes; PostgreSQL's own memory is not in it.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

LAST = [
    "佐藤",
    "鈴木",
    "高橋",
    "髙橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
]
FIRST = ["太郎", "花子", "一郎", "美咲", "翔太", "陽菜", "大輔", "さくら", "健", "結衣"]
COMPANY = ["株式会社たより", "㈱サンプル商事", "有限会社テスト", "合同会社①", "Example Inc."]
TAGS = ["展示会", "セミナー", "newsletter", "VIP", ""]
DOMAINS = [f"example{n}.co.jp" for n in range(40)] + ["docomo.ne.jp", "ezweb.ne.jp"]


def generate(path: Path, rows: int, encoding: str) -> None:
    rng = random.Random(42)
    with path.open("w", encoding=encoding, newline="", errors="strict") as handle:
        writer = csv.writer(handle)
        writer.writerow(["メールアドレス", "姓", "名", "会社名", "電話番号", "タグ"])
        for i in range(rows):
            roll = rng.random()
            domain = DOMAINS[i % len(DOMAINS)]
            if roll < 0.005:
                email = f"broken-{i}-at-{domain}"
            elif roll < 0.010 and i > 10:
                email = f"user{i - rng.randint(1, 10)}@{DOMAINS[(i - 1) % len(DOMAINS)]}"
            elif roll < 0.012:
                email = f"user{i}..m.@docomo.ne.jp"
            else:
                email = f"user{i}@{domain}"
            writer.writerow(
                [
                    email,
                    rng.choice(LAST),
                    rng.choice(FIRST),
                    rng.choice(COMPANY),
                    f"03-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
                    rng.choice(TAGS),
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--encoding", default="cp932", choices=["cp932", "utf-8", "utf-8-sig"])
    parser.add_argument("--list", dest="list_name", default="bench")
    parser.add_argument("--cleanup", action="store_true", help="delete the bench organisation")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Organization
    from contacts.importing import import_file
    from contacts.importing.plan import Progress

    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contacts.csv"
        started = time.perf_counter()
        generate(path, args.rows, args.encoding)
        size = path.stat().st_size
        print(
            f"generated {args.rows:,} rows, {size / 1e6:.1f} MB {args.encoding} "
            f"in {time.perf_counter() - started:.1f} s"
        )
        organization = Organization.objects.create(
            name="Bench", slug=f"bench-{int(time.time())}", max_contacts=args.rows * 2
        )
        phases: dict[str, float] = {}

        def note(state):
            phases.setdefault(state["phase"], time.perf_counter())

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        data = path.read_bytes()
        job = import_file(
            organization,
            file_name=path.name,
            data=data,
            list_name=args.list_name,
            progress=Progress(None, note),
        )
        elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if job.status != "done":
        print(f"import failed: {job.error}")
        sys.exit(1)
    counts = job.counts
    print(f"database: {connection.vendor}, {os.cpu_count()} CPUs")
    print(
        f"imported {counts['rows']:,} rows in {elapsed:.1f} s = "
        f"{counts['rows'] / elapsed:,.0f} rows/s"
    )
    print("counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    marks = sorted(phases.items(), key=lambda item: item[1])
    ends = [at for _phase, at in marks[1:]] + [started + elapsed]
    for (phase, at), until in zip(marks, ends, strict=True):
        print(f"  {phase:<9} {until - at:6.1f} s")
    print(
        f"peak memory (max RSS): {peak_mb:.0f} MB (before the import: {rss_before / 1024:.0f} MB)"
    )
    if args.cleanup:
        from contacts.models import (
            Contact,
            ContactEvent,
            ContactList,
            ImportJob,
            ListMembership,
            Suppression,
            Tag,
        )

        for model in (ContactEvent, ListMembership, Contact, Suppression, Tag, ContactList):
            model.objects.filter(organization=organization)._raw_delete(connection.alias)
        ImportJob.objects.filter(organization=organization)._raw_delete(connection.alias)
        print("bench organisation's contacts deleted")


if __name__ == "__main__":
    main()
