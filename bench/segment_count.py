"""Benchmark: segment counts over N contacts (default 1,000,000) on PostgreSQL. It prints
timings and EXPLAIN (ANALYZE, BUFFERS) plans; it does not pass or fail.

    createdb -h 127.0.0.1 -U postgres tayori_seg_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tayori_seg_bench \\
        .venv/bin/python bench/segment_count.py [--contacts 1000000] [--runs 5] [--explain all]

The database is migrated first (so the indexes of segments/migrations/0002-0003 exist).
The contacts of organisation ``bench-segments`` are made once with set-based SQL
(``generate_series``; about a minute for a million with their tags and lists) and
reused by later runs with the same ``--contacts``; ``--fresh`` makes them again
(deleting and compacting the old ones). The data is deterministic (hashes of the row
number): 12 mail domains (40% Japanese carriers), a score 0-99, a plan, a renewal date,
a yes/no, 10 tags from 1% to 50% of contacts, 4 lists (one restricted), 2% unsubscribed,
1% of subscribed addresses on the suppression list.

What is timed is what a page or campaign runs: ``audience_count`` (the segment, only
subscribed contacts, minus the suppression list) and ``audience_sample`` (10 contacts),
each the median wall-clock time of ``--runs`` runs after one warm-up, plus the same count
for a marketer whose list grants hide the restricted list (``membership=``). Wall-clock
times depend on what else the machine runs, so the last column is the CPU time the
PostgreSQL backend spent on the count with parallel workers off (read from /proc when
the server is local): the work itself. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SLUG = "bench-segments"
DOMAINS = [
    "docomo.ne.jp", "ezweb.ne.jp", "softbank.ne.jp", "i.softbank.jp", "gmail.com", "yahoo.co.jp",
    "example.co.jp", "example.jp", "mail.example.com", "tayori.jp", "outlook.jp", "icloud.com",
]  # fmt: skip
LAST = [
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "Smith",
]
FIRST = ["太郎", "花子", "一郎", "美咲", "翔太", "陽菜", "大輔", "さくら", "健", "結衣"]
COMPANY = ["株式会社たより", "㈱サンプル商事", "有限会社テスト", "合同会社①", "Example Inc.", ""]
PLANS = ["free", "silver", "gold", "platinum"]
# name -> percentage of contacts with the tag
TAGS = {
    "VIP": 5, "展示会": 20, "newsletter": 50, "セミナー": 10, "資料請求": 8, "大阪": 12,
    "東京": 30, "休眠": 15, "B2B": 25, "trial": 1,
}  # fmt: skip
# name -> (percentage of contacts, restricted)
LISTS = {"Newsletter": (60, False), "Customers": (30, False), "Seminar 2025": (10, False),
         "Board": (1, True)}  # fmt: skip


def _array(values) -> str:
    # Constants of this file only (never user input), as a SQL array literal.
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"ARRAY[{quoted}]"


def _pick(values, salt: int) -> str:
    return f"({_array(values)})[1 + mod(hashint4(g + {salt}) & 2147483647, {len(values)})]"


def make_contacts(organization, count: int) -> None:
    from django.db import connection, transaction

    from contacts.models import Contact, ContactList, CustomField, Tag

    org = organization.pk
    for key, label, field_type, choices in (
        ("score", "Score", "number", []),
        ("plan", "Plan", "choice", PLANS),
        ("renewal", "Renewal date", "date", []),
        ("vip", "VIP", "boolean", []),
        ("nickname", "Nickname", "text", []),
    ):
        CustomField.objects.create(
            organization=organization, key=key, label=label, field_type=field_type, choices=choices
        )
    tags = {name: Tag.objects.create(organization=organization, name=name) for name in TAGS}
    lists = {
        name: ContactList.objects.create(organization=organization, name=name, is_restricted=r)
        for name, (_pct, r) in LISTS.items()
    }
    columns = {
        "organization_id": str(org),
        "email": f"'user' || g || '@' || {_pick(DOMAINS, 1)}",
        "last_name": _pick(LAST, 2),
        "first_name": _pick(FIRST, 3),
        "company": _pick(COMPANY, 4),
        "phone": "''",
        "attributes": (
            "jsonb_build_object("
            "'score', mod(hashint4(g + 5) & 2147483647, 100), "
            f"'plan', {_pick(PLANS, 6)}, "
            "'renewal', to_char(current_date - 500 + mod(hashint4(g + 7) & 2147483647, 1000), "
            "'YYYY-MM-DD'), "
            "'vip', mod(hashint4(g + 8) & 2147483647, 10) = 0, "
            "'nickname', 'nick' || mod(g, 1000))"
        ),
        "status": "CASE WHEN mod(g, 50) = 0 THEN 'unsubscribed' ELSE 'subscribed' END",
        "consent_method": _pick(["web_form", "import", "api"], 9),
        "consent_at": "now()",
        "consent_evidence": "'bench'",
        "created_at": "now() - mod(hashint4(g + 10) & 2147483647, 1500) * interval '1 day'",
        "updated_at": "now()",
    }
    fields = {f.column: f for f in Contact._meta.concrete_fields if not f.primary_key}
    missing = [c for c, f in fields.items() if c not in columns and not f.null]
    if missing:
        sys.exit(f"bench/segment_count.py does not know how to fill contacts.{missing}")
    names = [c for c in columns if c in fields]
    select = ", ".join(columns[c] for c in names)
    tag_table = Contact.tags.through._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            f"INSERT INTO contacts_contact ({', '.join(names)}) "  # noqa: S608 - constants only
            f"SELECT {select} FROM generate_series(1, %s) AS g",
            [count],
        )
        print(f"  contacts inserted in {time.perf_counter() - started:.1f} s")
        for salt, (name, percent) in enumerate(TAGS.items(), start=100):
            cursor.execute(
                f"INSERT INTO {tag_table} (organization_id, contact_id, tag_id) "  # noqa: S608
                "SELECT %s, id, %s FROM contacts_contact WHERE organization_id = %s "
                "AND mod(hashint4(id::int + %s) & 2147483647, 100) < %s",
                [org, tags[name].pk, org, salt, percent],
            )
        for salt, (name, (percent, _restricted)) in enumerate(LISTS.items(), start=200):
            cursor.execute(
                "INSERT INTO contacts_listmembership (organization_id, contact_id, "
                "contact_list_id, added_at) SELECT %s, id, %s, now() FROM contacts_contact "
                "WHERE organization_id = %s AND mod(hashint4(id::int + %s) & 2147483647, 100) < %s",
                [org, lists[name].pk, org, salt, percent],
            )
        cursor.execute(
            "INSERT INTO contacts_suppression (organization_id, address, reason, source, "
            "created_at, lift_reason) SELECT %s, email, 'manual', 'bench', now(), '' "
            "FROM contacts_contact "
            "WHERE organization_id = %s AND status = 'subscribed' AND mod(id, 100) = 7",
            [org, org],
        )
        print(f"  tags, lists, suppressions in {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        for table in ("contacts_contact", tag_table, "contacts_listmembership"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("ANALYZE contacts_suppression")


def segments(organization) -> dict[str, dict]:
    from contacts.models import ContactList, Tag

    tag = {t.name: t.pk for t in Tag.objects.for_organization(organization)}
    lst = {li.name: li.pk for li in ContactList.objects.for_organization(organization)}
    carriers = ["docomo.ne.jp", "ezweb.ne.jp", "softbank.ne.jp", "i.softbank.jp"]
    return {
        # The case: five conditions in two groups, a custom attribute and a tag.
        "5 conditions, 2 groups": {
            "match": "all",
            "rules": [
                {
                    "match": "all",
                    "rules": [
                        {"field": "attr:score", "op": "gt", "value": 50},
                        {"field": "tags", "op": "any", "value": [tag["展示会"]]},
                        {"field": "created_at", "op": "within_last_days", "value": 365},
                    ],
                },
                {
                    "match": "any",
                    "rules": [
                        {"field": "email_domain", "op": "in", "value": carriers},
                        {"field": "attr:plan", "op": "in", "value": ["gold", "platinum"]},
                    ],
                },
            ],
        },
        "tag VIP": {
            "match": "all", "rules": [{"field": "tags", "op": "any", "value": [tag["VIP"]]}]
        },
        "rare tag (1%)": {
            "match": "all", "rules": [{"field": "tags", "op": "any", "value": [tag["trial"]]}]
        },
        "carrier domains": {
            "match": "all", "rules": [{"field": "email_domain", "op": "in", "value": carriers}]
        },
        "one domain": {
            "match": "all", "rules": [{"field": "email_domain", "op": "eq", "value": "icloud.com"}]
        },
        "plan is gold (GIN)": {
            "match": "all", "rules": [{"field": "attr:plan", "op": "in", "value": ["gold"]}]
        },
        "score between 90 and 99": {
            "match": "all", "rules": [{"field": "attr:score", "op": "between", "value": [90, 99]}]
        },
        "renewal in the last 30 days": {
            "match": "all",
            "rules": [{"field": "attr:renewal", "op": "within_last_days", "value": 30}],
        },
        "added in the last 7 days": {
            "match": "all", "rules": [{"field": "created_at", "op": "within_last_days", "value": 7}]
        },
        "last name contains 田": {
            "match": "all", "rules": [{"field": "last_name", "op": "contains", "value": "田"}]
        },
        "list, not tag 休眠": {
            "match": "all",
            "rules": [
                {"field": "lists", "op": "any", "value": [lst["Customers"]]},
                {"field": "tags", "op": "none", "value": [tag["休眠"]]},
            ],
        },
        "everyone (e-mail contains @)": {
            "match": "all", "rules": [{"field": "email", "op": "contains", "value": "@"}]
        },
    }  # fmt: skip


def backend_cpu_ms(connection) -> float | None:
    """CPU time this connection's PostgreSQL backend has used, when the server runs on this
    machine (``/proc/<pid>/stat``); ``None`` otherwise."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def cpu_of(function, runs: int) -> float | None:
    """The least backend CPU time of ``runs`` runs with parallel workers off: the work a
    count takes, whatever else the machine is busy with (wall times are not)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    try:
        best = None
        for _ in range(runs):
            before = backend_cpu_ms(connection)
            function()
            after = backend_cpu_ms(connection)
            if before is None or after is None:
                return None
            best = after - before if best is None else min(best, after - before)
        return best
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET max_parallel_workers_per_gather")


def timed(function, runs: int) -> tuple[float, object]:
    function()  # warm-up: caches, plans
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def explain(queryset) -> str:
    """The plan of the count the page runs (``SELECT count(*)`` over the audience)."""
    from django.db import connection

    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # The SQL is the ORM's own, with its parameters kept apart.
        cursor.execute(
            f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM ({sql}) AS audience",  # noqa: S608
            params,
        )
        return "\n".join(row[0] for row in cursor.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fresh", action="store_true", help="make the contacts again")
    parser.add_argument(
        "--explain", default="first", choices=["first", "all", "none"], help="which plans to print"
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from accounts.enums import Role
    from accounts.models import Membership, Organization, User
    from contacts.models import Contact
    from segments.models import Segment
    from segments.services import audience_contacts, audience_count, audience_sample

    if connection.vendor != "postgresql":
        sys.exit("set DATABASE_URL to a PostgreSQL database")
    call_command("migrate", verbosity=0)
    organization, _created = Organization.objects.get_or_create(
        slug=SLUG, defaults={"name": "Segment bench", "max_contacts": args.contacts * 2}
    )
    existing = Contact.objects.for_organization(organization).count()
    if args.fresh or existing != args.contacts:
        if existing:
            print(f"deleting the bench organisation's {existing:,} contacts")
        # Raw deletes of this organisation's rows only: no ORM cascade into other apps.
        with connection.cursor() as cursor:
            for table in (
                Contact.tags.through._meta.db_table,
                "contacts_listmembership",
                "contacts_suppression",
                "contacts_contact",
                "segments_segment",
                "contacts_tag",
                "contacts_contactlist",
                "contacts_customfield",
            ):
                cursor.execute(
                    f"DELETE FROM {table} WHERE organization_id = %s",  # noqa: S608 - constants
                    [organization.pk],
                )
        if existing:
            # Deleted rows leave the tables twice their size; compact them so that a
            # fresh run measures what a fresh database would.
            with connection.cursor() as cursor:
                for table in (
                    Contact.tags.through._meta.db_table,
                    "contacts_listmembership",
                    "contacts_suppression",
                    "contacts_contact",
                ):
                    cursor.execute(f"VACUUM FULL {table}")
        print(f"making {args.contacts:,} contacts")
        make_contacts(organization, args.contacts)
    user = User.objects.filter(email="bench-marketer@example.jp").first() or (
        User.objects.create_user(email="bench-marketer@example.jp", password=None)
    )
    marketer, _created = Membership.objects.get_or_create(
        organization=organization, user=user, defaults={"role": Role.MARKETER}
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(cursor.fetchone()[0])
        for setting in ("max_parallel_workers_per_gather", "work_mem", "shared_buffers", "jit"):
            cursor.execute(f"SHOW {setting}")
            print(f"  {setting} = {cursor.fetchone()[0]}")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('contacts_contact'))")
        print(f"  contacts_contact with indexes: {cursor.fetchone()[0]}")
    print(f"{os.cpu_count()} CPUs; {args.contacts:,} contacts; median of {args.runs} runs\n")

    with open("/proc/loadavg") if Path("/proc/loadavg").exists() else open(os.devnull) as f:
        print(f"load average before: {f.read().strip() or 'unknown'}")
    header = (
        f"{'segment':<32} {'count':>9} {'count ms':>9} {'sample ms':>10} {'as marketer':>12} "
        f"{'1-CPU ms':>9}"
    )
    print(header)
    print("-" * len(header))
    plans = []
    for index, (name, rules) in enumerate(segments(organization).items()):
        segment, _created = Segment.objects.update_or_create(
            organization=organization, name=name, defaults={"rules": rules}
        )
        audience = {"include_segments": [segment]}
        count_ms, count = timed(lambda a=audience: audience_count(organization, **a), args.runs)
        sample_ms, _sample = timed(lambda a=audience: audience_sample(organization, **a), args.runs)
        member_ms, _member_count = timed(
            lambda a=audience: audience_count(organization, membership=marketer, **a), args.runs
        )
        cpu_ms = cpu_of(lambda a=audience: audience_count(organization, **a), args.runs)
        cpu = f"{cpu_ms:>9.0f}" if cpu_ms is not None else f"{'n/a':>9}"
        print(
            f"{name:<32} {count:>9,} {count_ms:>9.0f} {sample_ms:>10.0f} {member_ms:>12.0f} {cpu}"
        )
        if args.explain == "all" or (args.explain == "first" and index == 0):
            plans.append((name, explain(audience_contacts(organization, **audience))))
    with open("/proc/loadavg") if Path("/proc/loadavg").exists() else open(os.devnull) as f:
        print(f"load average after: {f.read().strip() or 'unknown'}")
    print(
        "count/sample/as marketer: median wall-clock ms (parallel workers on); 1-CPU ms: least "
        "CPU time of the PostgreSQL backend with parallel workers off (independent of load)."
    )
    for name, plan in plans:
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) count of “{name}”:\n{plan}")


if __name__ == "__main__":
    main()
