"""Benchmark: send one approved campaign to N recipients (default 20,000) through the real
path, and the same work in one process with no queue and no database. Prints figures; it
does not pass or fail.

    .venv/bin/python bench/send_campaign.py [--recipients 20000] [--concurrency 3]
        [--pool prefork|solo]

Uses PostgreSQL (``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/tayori_bench``;
created and migrated if needed), Redis (``REDIS_URL``, default DB 14; emptied first),
real Celery worker processes (prefork) and a STARTTLS sink in its own process
(``bench/sink.py``, certificate from a throw-away development CA). Messages are
personalised HTML and text of about 10 KB, DKIM-signed with RSA-2048 and Ed25519.

Figures:
1. end to end: recipients / (last row recorded - dispatch start), messages/s;
2. ceiling: render + build + sign + send in this process, no queue, no database;
3. their ratio; CPU seconds per message of the worker processes; their peak memory;
4. the whole machine's CPU per message, and how it splits between the workers, the sink,
   PostgreSQL, Redis and the rest;
5. two yardsticks of this machine's speed, to compare figures taken on different
   machines: one RSA-2048 signature and one empty Celery task.
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tayori_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Measured as production runs: DEBUG off (no query log kept per statement), so the
# secrets DEBUG=0 demands are made up for this run. Notifications stay in memory.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", os.urandom(32).hex())
os.environ.setdefault("FIELD_ENCRYPTION_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


PARAGRAPH = (
    "<p>{{ contact.last_name }} {{ contact.first_name }} 様、いつもご利用ありがとうございます。"
    "今月のおすすめ商品と、会員さま限定のご案内をお届けします。"
    '<a href="https://shop.example/item/{{ loop_index }}">商品ページはこちら</a></p>\n'
)


def _html_body() -> str:
    parts = []
    for n in range(28):
        parts.append(PARAGRAPH.replace("{{ loop_index }}", str(n)))
    return "".join(parts) + "{{ footer }}\n"


def _setup(recipients: int):
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.enums import Role
    from accounts.models import Membership, Organization, User
    from campaigns import services as campaign_services
    from campaigns.models import Campaign, SenderProfile
    from contacts.models import Contact, ContactList, ListMembership
    from delivery.enums import DomainStatus
    from delivery.models import SendingDomain
    from delivery.services import add_sending_domain

    call_command("migrate", verbosity=0)
    stamp = time.strftime("%Y%m%d%H%M%S")
    org = Organization.objects.create(
        name=f"Bench {stamp}", slug=f"bench-{stamp}", max_contacts=10**7, monthly_send_limit=10**8
    )

    def member(role):
        user = User.objects.create_user(f"{role}-{stamp}@bench.example", "bench-password-123")
        return Membership.objects.create(user=user, organization=org, role=role)

    admin, marketer, approver = member(Role.ADMIN), member(Role.MARKETER), member(Role.APPROVER)
    profile = SenderProfile.for_organization(org)
    profile.sender_name = "株式会社たより商店"
    profile.postal_address = "〒100-0001 東京都千代田区千代田1-1"
    profile.complaints_contact = "support@shop.example"
    profile.save()
    domain = add_sending_domain(admin, "shop.example")
    SendingDomain.objects.filter(pk=domain.pk).update(status=DomainStatus.VERIFIED)
    audience = ContactList.objects.create(organization=org, name="Everyone")
    contacts = Contact.objects.bulk_create(
        [
            Contact(
                organization=org,
                email=f"person{n:06d}@example{n % 50}.jp",
                last_name="山田",
                first_name=f"太郎{n}",
                consent_method="import",
            )
            for n in range(recipients)
        ],
        batch_size=5000,
    )
    ListMembership.objects.bulk_create(
        [ListMembership(organization=org, contact=c, contact_list=audience) for c in contacts],
        batch_size=5000,
    )
    data = campaign_services.CampaignInput(
        name="Bench",
        subject="{{ contact.last_name }}様 今月のご案内",
        preheader="会員さま限定",
        from_name="たより商店",
        from_address="news@shop.example",
        reply_to="support@shop.example",
        html_body=_html_body(),
        include_lists=[audience],
    )
    from campaigns import hooks
    from campaigns.hooks import DomainStatus as Status

    campaign = campaign_services.create_campaign(marketer, data)
    # The spam check (SpamAssassin) and domain check run at submit/approve like in
    # production; the domain is marked verified above.
    with hooks.registered(
        domain_checker=lambda o, a: Status("shop.example", True, True), test_sender=None
    ):
        campaign_services.submit_campaign(marketer, campaign)
        campaign_services.approve_campaign(approver, campaign)
    Campaign.objects.filter(pk=campaign.pk).update(undo_until=timezone.now())
    campaign.refresh_from_db()
    return org, campaign


def _cpu_and_memory(pids: list[int]) -> tuple[float, int]:
    """CPU seconds (user+system, children included) and the largest peak RSS (kB)."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu, peak = 0.0, 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += sum(int(fields[i]) for i in (11, 12)) / ticks
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            continue
    return cpu, peak


def _cpu_by_process() -> dict[str, float]:
    """CPU seconds (user+system) of every live process, by what it is: the sink, the
    Celery workers, PostgreSQL, Redis, this process, everything else."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if int(entry.name) == os.getpid():
            kind = "bench"
        elif "bench/sink.py" in command:
            kind = "sink"
        elif "celery" in command:
            kind = "workers"
        elif name.startswith("postgres") or command.startswith("postgres"):
            kind = "PostgreSQL"
        elif name.startswith("redis"):
            kind = "Redis"
        else:
            kind = "other"
        totals[kind] = totals.get(kind, 0.0) + sum(int(fields[i]) for i in (11, 12)) / ticks
    return totals


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _start_workers(pool: str, concurrency: int) -> list[subprocess.Popen]:
    """``prefork``: one worker with ``concurrency`` child processes (Celery's default
    pool). ``solo``: ``concurrency`` workers of one process each, every one consuming
    from Redis itself (no parent relaying tasks to children over pipes)."""
    common = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning"]
    common += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if pool == "prefork":
        commands = [[*common, "--pool", "prefork", "--concurrency", str(concurrency)]]
    else:
        commands = [[*common, "--pool", "solo", "-n", f"bench{n}@%h"] for n in range(concurrency)]
    return [
        subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), start_new_session=True)
        for command in commands
    ]


def _worker_pids(root_pid: int) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-g", str(os.getpgid(root_pid))], capture_output=True, text=True
    ).stdout
    return [int(p) for p in out.split()]


def _rsa_signature_ms(count: int = 300) -> float:
    """Milliseconds per RSA-2048 PKCS#1 v1.5 signature (OpenSSL): a yardstick for this
    machine's speed (the issue measured 0.5 ms on its reference machine)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    started = time.perf_counter()
    for n in range(count):
        key.sign(str(n).encode(), padding.PKCS1v15(), hashes.SHA256())
    return (time.perf_counter() - started) / count * 1000


def _empty_task_ms(count: int = 3000) -> float:
    """Machine CPU (ms, every process) per empty Celery task published, run by the
    running workers and acknowledged: Celery's own floor under one task per recipient on
    this machine (the issue's reference machine: about 1 ms)."""
    import redis

    from config.celery import app

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    accumulate = app.tasks["celery.accumulate"]  # Celery's built-in: returns its arguments
    busy = _machine_busy()
    with app.producer_or_acquire() as producer:
        for n in range(count):
            accumulate.apply_async((n,), producer=producer)
    while client.llen("celery") or client.hlen("unacked"):
        time.sleep(0.05)
    return (_machine_busy() - busy) / count * 1000


def _ceiling(campaign, count: int) -> float:
    from campaigns.models import SenderProfile
    from delivery import engine, tracking
    from delivery.services import platform_relay
    from delivery.smtp import pool
    from delivery.testsend import signing_keys

    profile = SenderProfile.for_organization(campaign.organization_id)
    keys = signing_keys(campaign.organization_id, campaign.from_address)
    relay = platform_relay()
    contacts = [
        {
            "email": f"ceiling{n}@example.jp",
            "last_name": "山田",
            "first_name": f"太郎{n}",
            "company": "",
            "phone": "",
            "attributes": {},
        }
        for n in range(count)
    ]
    started = time.perf_counter()
    for n, contact in enumerate(contacts):
        token = f"{n:032x}"
        message = engine.build_message(campaign, profile, keys, contact, contact["email"], token)
        result = pool().send(relay, tracking.return_path(token), contact["email"], message)
        assert result.ok, result
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--pool", choices=["prefork", "solo"], default="prefork")
    parser.add_argument("--ceiling-messages", type=int, default=2_000)
    args = parser.parse_args()

    _ensure_database(os.environ["DATABASE_URL"])
    tls_dir = Path(tempfile.mkdtemp(prefix="tayori-bench-tls-"))
    sink_port = _free_port()
    os.environ.update(
        DELIVERY_RELAY_HOST="127.0.0.1",
        DELIVERY_RELAY_PORT=str(sink_port),
        DELIVERY_RELAY_CA_FILE=str(tls_dir / "ca.pem"),
        DELIVERY_RELAY_RATE="0",
    )
    sink = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "sink.py"),
            "--port",
            str(sink_port),
            "--tls-dir",
            str(tls_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout.readline().strip() == "ready"

    print(f"setting up {args.recipients} recipients ...", flush=True)
    _org, campaign = _setup(args.recipients)
    import redis

    import config.celery  # noqa: F401 - configures the Celery app that dispatch publishes through
    from campaigns.enums import CampaignState
    from campaigns.models import Campaign
    from delivery import engine
    from delivery.enums import DeliveryStatus
    from delivery.models import Delivery

    # A run that was interrupted leaves tasks in Redis (unacknowledged ones come back when
    # a worker starts) and campaigns still sending in the database, with keys encrypted
    # under that run's FIELD_ENCRYPTION_KEY: start from a clean queue, and retire them.
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    Campaign.objects.exclude(pk=campaign.pk).exclude(
        state__in=[CampaignState.SENT, CampaignState.CANCELLED]
    ).update(state=CampaignState.CANCELLED)
    Delivery.objects.exclude(campaign=campaign).filter(
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]
    ).update(status=DeliveryStatus.CANCELLED)
    workers = _start_workers(args.pool, args.concurrency)
    try:
        time.sleep(4)  # let the pool start before the clock does
        empty_task = _empty_task_ms()
        pids = [pid for worker in workers for pid in _worker_pids(worker.pid)]
        cpu_before, _ = _cpu_and_memory(pids)
        machine_before = _machine_busy()
        processes_before = _cpu_by_process()
        started = time.time()
        assert engine.dispatch_due_campaigns() == [campaign.pk]
        pending = Delivery.objects.filter(
            campaign=campaign, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]
        )
        while pending.exists():
            time.sleep(0.5)
        from django.db.models import Max

        last = Delivery.objects.filter(campaign=campaign).aggregate(last=Max("sent_at"))["last"]
        elapsed = last.timestamp() - started
        cpu_after, peak_kb = _cpu_and_memory(pids)
        machine = _machine_busy() - machine_before
        processes = _cpu_by_process()
        sent = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SENT).count()
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
    end_to_end = args.recipients / elapsed
    print(
        f"end to end:  {args.recipients} recipients ({sent} sent) in {elapsed:.1f} s "
        f"= {end_to_end:.0f} messages/s (dispatch to last row recorded)"
    )
    shape = (
        f"{args.concurrency} prefork processes"
        if args.pool == "prefork"
        else f"{args.concurrency} solo workers"
    )
    print(
        f"worker CPU:  {(cpu_after - cpu_before) / args.recipients * 1000:.2f} ms per message "
        f"({shape}); peak RSS of one worker process {peak_kb / 1024:.0f} MB"
    )
    print(
        f"machine CPU: {machine / args.recipients * 1000:.2f} ms per message, every process "
        f"(workers, PostgreSQL, Redis, sink, this one) on {os.cpu_count()} cores"
    )
    shares = {
        kind: (seconds - processes_before.get(kind, 0.0)) / args.recipients * 1000
        for kind, seconds in sorted(processes.items())
    }
    print(
        "  of which:  "
        + ", ".join(f"{kind} {ms:.2f}" for kind, ms in shares.items())
        + " ms (processes started since the clock count whole; kernel work outside them does not)"
    )
    ceiling = _ceiling(campaign, args.ceiling_messages)
    print(
        f"ceiling:     {ceiling:.0f} messages/s (render + build + sign + send, one process, "
        "no queue, no database)"
    )
    print(f"ratio:       {end_to_end / ceiling:.2f} of the single-process ceiling")
    print(
        f"this machine: an RSA-2048 signature takes {_rsa_signature_ms():.2f} ms, an empty "
        f"Celery task {empty_task:.2f} ms of machine CPU (the issue's reference machine: "
        "0.5 ms and about 1 ms)"
    )
    print(
        f"bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    sink.send_signal(signal.SIGTERM)
    print("sink:", sink.communicate(timeout=10)[0].strip())
    shutil.rmtree(tls_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
