"""The PostgreSQL import engine: COPY into a staging table, then set-based SQL.

A per-row loop manages a few thousand rows a second; a million-row file is streamed
through validation straight into ``COPY`` (psycopg 3 ``cursor.copy()``) and applied with
a handful of set-based statements. Everything happens inside the caller's transaction:
the staging table is ``ON COMMIT DROP`` and a dry run is the same work rolled back.

Each staging row draws its would-be contact id from the contacts' own sequence as it is
copied (``new_id``), so new contacts, their tags, list memberships and history rows are
inserted without first reading ids back; the staging table is only updated for rows
that match existing contacts (and the rare duplicates and rejections).

Semantics are those of ``contacts.importing.orm`` (the SQLite path); the tests run the
same files through both.
"""

# ruff: noqa: S608 - SQL here is assembled from module constants (table names, column
# lists, the {ok} condition); every value is passed as a query parameter.
from __future__ import annotations

from itertools import groupby

from django.db import connection
from psycopg import sql

from contacts.enums import ContactStatus
from contacts.importing.plan import (
    ImportPlan,
    ImportResult,
    Progress,
    build_report,
    report_entry,
    staged_tuples,
)
from contacts.importing.rows import COLUMNS, StagedRow, merge_group
from contacts.importing.storage import open_file
from contacts.models import (
    Contact,
    ContactEvent,
    ContactTag,
    ListMembership,
    Suppression,
    Tag,
)

STAGING = "contacts_import_staging"
_OK = "s.reject_reason IS NULL AND s.merged_into IS NULL"
# The row's contact: the existing one, or the id reserved for the new one.
_CID = "COALESCE(s.contact_id, s.new_id)"


def _tables() -> dict[str, str]:
    return {
        "staging": STAGING,
        "contact": Contact._meta.db_table,
        "tag": Tag._meta.db_table,
        "contact_tag": ContactTag._meta.db_table,
        "membership": ListMembership._meta.db_table,
        "suppression": Suppression._meta.db_table,
        "event": ContactEvent._meta.db_table,
    }


def _sql(template: str) -> str:
    """Fill in table names, ``{ok}`` and ``{cid}`` (module constants, never input)."""
    return template.format(**_tables(), ok=_OK, cid=_CID)


_DROP_TEMP_TABLES = (
    "DROP TABLE IF EXISTS pg_temp.contacts_import_merged, pg_temp.contacts_import_dups, "
    f"pg_temp.{STAGING}"
)

_CREATE_STAGING = """
CREATE TEMP TABLE {staging} (
    line integer NOT NULL,
    email text NOT NULL,
    last_name text NOT NULL,
    first_name text NOT NULL,
    company text NOT NULL,
    phone text NOT NULL,
    status text,
    attributes text NOT NULL,
    tags text NOT NULL,
    reject_reason text,
    reject_column text,
    reject_value text,
    note text,
    email_key text GENERATED ALWAYS AS (lower(email)) STORED,
    new_id bigint NOT NULL DEFAULT nextval({sequence}),
    merged_into integer,
    contact_id bigint,
    changed boolean NOT NULL DEFAULT false,
    list_added boolean NOT NULL DEFAULT false
) ON COMMIT DROP
"""

# New values, with an empty cell meaning "leave as it is".
_NEW_VALUES = """
    CASE WHEN s.last_name <> '' THEN s.last_name ELSE c.last_name END,
    CASE WHEN s.first_name <> '' THEN s.first_name ELSE c.first_name END,
    CASE WHEN s.company <> '' THEN s.company ELSE c.company END,
    CASE WHEN s.phone <> '' THEN s.phone ELSE c.phone END,
    CASE WHEN s.status IN ('unsubscribed', 'bounced', 'complained') THEN s.status
         ELSE c.status END,
    c.attributes || s.attributes::jsonb
"""


def run(plan: ImportPlan, progress: Progress) -> ImportResult:
    with connection.cursor() as cursor:
        # Sorts and hash joins over a million rows: let them run in memory (this
        # transaction only; one sort at a time). At the default 4 MB, sorting the staging
        # rows into index order spills ~200 MB to disk.
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # ON COMMIT DROP cleans up after the transaction; an enclosing transaction (a
        # test, a caller's atomic block) may still hold the tables of an earlier run.
        cursor.execute(_DROP_TEMP_TABLES)
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Contact._meta.db_table])
        sequence = cursor.fetchone()[0]
        literal = sql.Literal(sequence).as_string(cursor.connection)
        cursor.execute(_sql(_CREATE_STAGING.replace("{sequence}", literal)))
        columns = ", ".join(COLUMNS)
        # Fetched before COPY starts: the connection is busy during it.
        with (
            open_file(plan.job.pk) as handle,
            cursor.copy(_sql(f"COPY {{staging}} ({columns}) FROM STDIN")) as copy,
        ):
            for row in staged_tuples(plan, handle, progress):
                copy.write_row(row)
        cursor.execute(_sql("ANALYZE {staging}"))
        progress("checking", 62, force=True)

        _merge_duplicates(cursor, plan)
        progress("checking", 65, force=True)
        has_existing = _check(cursor, plan)
        progress("writing", 70, force=True)

        if has_existing:
            _update_existing(cursor, plan)
        _insert_new(cursor, plan)
        progress("writing", 78, force=True)
        _link_tags(cursor, plan, has_existing)
        progress("writing", 82, force=True)
        suppressed = _suppress_from_status(cursor, plan)
        _add_to_list(cursor, plan, has_existing)
        progress("writing", 88, force=True)
        if has_existing:
            _record_events(cursor, plan)
        counts = _counts(cursor, plan)
        counts["suppressed"] = suppressed
        progress("report", 94, force=True)
        report, sample = build_report(_report_entries(plan))
        cursor.execute(_DROP_TEMP_TABLES)
    return ImportResult(counts=counts, report=report, sample=sample)


def _merge_duplicates(cursor, plan: ImportPlan) -> None:
    """Rows sharing an address are merged into the first (see ``rows.merge_group``).

    Duplicates are rare, so finding them is set-based and only they come back to Python.
    """
    cursor.execute(
        _sql(
            """CREATE TEMP TABLE contacts_import_dups ON COMMIT DROP AS
            SELECT email_key, min(line) AS first_line FROM {staging} s
            WHERE s.reject_reason IS NULL GROUP BY email_key HAVING count(*) > 1"""
        )
    )
    if not cursor.rowcount:
        return
    columns = ", ".join(COLUMNS)
    cursor.execute(
        _sql(
            f"""CREATE TEMP TABLE contacts_import_merged ON COMMIT DROP AS
            SELECT {columns} FROM {{staging}} WITH NO DATA"""
        )
    )
    select = _sql(
        f"""SELECT {", ".join("s." + c for c in COLUMNS)}, s.email_key
        FROM {{staging}} s JOIN contacts_import_dups d USING (email_key)
        WHERE s.reject_reason IS NULL ORDER BY s.email_key, s.line"""
    )
    template = plan.messages["merged"]
    winners = []
    # A named (server-side) cursor streams the duplicate rows in batches.
    with connection.connection.cursor(name="contacts_import_dups_cursor") as rows_cursor:
        rows_cursor.itersize = 5000
        rows_cursor.execute(select)
        for _key, group in groupby(rows_cursor, key=lambda values: values[-1]):
            winners.append(merge_group([StagedRow.from_tuple(v) for v in group], template))
    with cursor.copy(f"COPY contacts_import_merged ({columns}) FROM STDIN") as copy:
        for winner in winners:
            copy.write_row(winner.as_tuple())
    cursor.execute(
        _sql(
            f"""UPDATE {{staging}} s SET {", ".join(f"{c} = m.{c}" for c in COLUMNS[1:])}
            FROM contacts_import_merged m WHERE s.line = m.line"""
        )
    )
    cursor.execute(
        _sql(
            """UPDATE {staging} s
            SET merged_into = d.first_line,
                note = concat_ws(' / ', s.note, replace(%s::text, '{{line}}', d.first_line::text))
            FROM contacts_import_dups d
            WHERE s.email_key = d.email_key AND s.line <> d.first_line
              AND s.reject_reason IS NULL"""
        ),
        [template],
    )


def _check(cursor, plan: ImportPlan) -> bool:
    """Match existing contacts, reject suppressed / restricted / over-the-limit rows.

    Returns whether any valid row matches an existing contact.
    """
    org = plan.organization.pk
    cursor.execute(
        _sql(
            """UPDATE {staging} s SET contact_id = c.id FROM {contact} c
            WHERE c.organization_id = %s AND lower(c.email) = s.email_key AND {ok}"""
        ),
        [org],
    )
    # Suppressed addresses are never imported (rejected; the contact stays as it is).
    reasons = [
        (code.split(":", 1)[1], text)
        for code, text in plan.messages.items()
        if code.startswith("suppressed:")
    ]
    case = " ".join("WHEN %s THEN %s" for _r in reasons)
    cursor.execute(
        _sql(
            f"""UPDATE {{staging}} s SET reject_reason = CASE p.reason {case} END
            FROM {{suppression}} p
            WHERE p.organization_id = %s AND p.lifted_at IS NULL
              AND lower(p.address) = s.email_key AND {{ok}}"""
        ),
        [*(value for pair in reasons for value in pair), org],
    )
    cursor.execute(_sql("SELECT count(*) FROM {staging} s WHERE s.contact_id IS NOT NULL AND {ok}"))
    has_existing = cursor.fetchone()[0] > 0
    if has_existing and plan.hidden_edit_list_ids:
        cursor.execute(
            _sql(
                """UPDATE {staging} s SET reject_reason = %s
                WHERE {ok} AND s.contact_id IN (
                    SELECT contact_id FROM {membership} WHERE contact_list_id = ANY(%s))"""
            ),
            [plan.messages["restricted"], list(plan.hidden_edit_list_ids)],
        )
    if has_existing:
        cursor.execute(
            _sql(
                """UPDATE {staging} s SET note = concat_ws(' / ', s.note, %s::text)
                FROM {contact} c
                WHERE c.id = s.contact_id AND {ok}
                  AND s.status = 'subscribed' AND c.status <> 'subscribed'"""
            ),
            [plan.messages["resubscribe"]],
        )
    _enforce_limit(cursor, plan)
    return has_existing


def _enforce_limit(cursor, plan: ImportPlan) -> None:
    organization = plan.organization
    cursor.execute(
        _sql("SELECT count(*) FROM {contact} WHERE organization_id = %s"), [organization.pk]
    )
    room = max(0, organization.max_contacts - cursor.fetchone()[0])
    cursor.execute(_sql("SELECT count(*) FROM {staging} s WHERE s.contact_id IS NULL AND {ok}"))
    if cursor.fetchone()[0] <= room:
        return
    cursor.execute(
        _sql(
            """WITH ranked AS (
                SELECT line, row_number() OVER (ORDER BY line) AS n FROM {staging} s
                WHERE s.contact_id IS NULL AND {ok})
            UPDATE {staging} s SET reject_reason = %s
            FROM ranked r WHERE s.line = r.line AND r.n > %s"""
        ),
        [plan.messages["limit"], room],
    )


def _update_existing(cursor, plan: ImportPlan) -> None:
    cursor.execute(
        _sql(
            f"""WITH updated AS (
                UPDATE {{contact}} c SET
                    (last_name, first_name, company, phone, status, attributes) =
                    ({_NEW_VALUES}),
                    updated_at = %s
                FROM {{staging}} s
                WHERE s.contact_id = c.id AND {{ok}}
                  AND (c.last_name, c.first_name, c.company, c.phone, c.status, c.attributes)
                      IS DISTINCT FROM ({_NEW_VALUES})
                RETURNING c.id)
            UPDATE {{staging}} s SET changed = true FROM updated u WHERE s.contact_id = u.id"""
        ),
        [plan.now],
    )


def _insert_new(cursor, plan: ImportPlan) -> None:
    # In index order: appending to the (organization, lower(email)) B-tree instead of
    # inserting at random places halves the time on a large import. The link tables
    # below are filled in contact-id order for the same reason.
    job = plan.job
    cursor.execute(
        _sql(
            """INSERT INTO {contact} (id, organization_id, email, last_name, first_name,
                company, phone, attributes, status, consent_method, consent_at,
                consent_evidence, import_job_id, created_at, updated_at)
            SELECT s.new_id, %s, s.email, s.last_name, s.first_name, s.company, s.phone,
                s.attributes::jsonb, COALESCE(s.status, %s), %s, %s, %s, %s, %s, %s
            FROM {staging} s WHERE s.contact_id IS NULL AND {ok}
            ORDER BY s.email_key"""
        ),
        [
            plan.organization.pk,
            ContactStatus.SUBSCRIBED.value,
            job.consent_method,
            plan.now,
            job.file_name,
            job.pk,
            plan.now,
            plan.now,
        ],
    )


def _link_tags(cursor, plan: ImportPlan, has_existing: bool) -> None:
    org = plan.organization.pk
    cursor.execute(_sql("SELECT 1 FROM {staging} s WHERE s.tags <> '' AND {ok} LIMIT 1"))
    if cursor.fetchone() is None:
        return
    tags = "unnest(string_to_array(s.tags, E'\\x1f'))"
    cursor.execute(
        _sql(
            f"""INSERT INTO {{tag}} (organization_id, name)
            SELECT DISTINCT %s, t FROM {{staging}} s CROSS JOIN LATERAL {tags} AS t
            WHERE s.tags <> '' AND {{ok}}
            ON CONFLICT (organization_id, name) DO NOTHING"""
        ),
        [org],
    )
    select = f"""SELECT %s, {{cid}}, g.id FROM {{staging}} s
        CROSS JOIN LATERAL {tags} AS t
        JOIN {{tag}} g ON g.organization_id = %s AND g.name = t
        WHERE s.tags <> '' AND {{ok}} AND s.contact_id IS {{which}} NULL
        ORDER BY 2, 3"""
    insert = "INSERT INTO {contact_tag} (organization_id, contact_id, tag_id) "
    # New contacts have no tags yet: nothing can conflict (ON CONFLICT would cost a
    # speculative insertion per row).
    cursor.execute(_sql(insert + select.replace("{which}", "")), [org, org])
    if has_existing:
        # A new tag on an existing contact counts as an update.
        cursor.execute(
            _sql(
                f"""WITH linked AS ({insert} {select.replace("{which}", "NOT")}
                    ON CONFLICT (contact_id, tag_id) DO NOTHING RETURNING contact_id)
                UPDATE {{staging}} s SET changed = true
                FROM (SELECT DISTINCT contact_id FROM linked) l
                WHERE s.contact_id = l.contact_id AND {{ok}}"""
            ),
            [org, org],
        )


def _suppress_from_status(cursor, plan: ImportPlan) -> int:
    """A file that says unsubscribed/bounced/complained suppresses the address too, so
    that no later import can resubscribe it."""
    cursor.execute(
        _sql(
            """WITH added AS (
                INSERT INTO {suppression} (organization_id, address, reason, source,
                    created_at, created_by_id, lift_reason)
                SELECT %s, s.email,
                    CASE s.status WHEN 'unsubscribed' THEN 'unsubscribed'
                        WHEN 'bounced' THEN 'hard_bounce' ELSE 'complaint' END,
                    %s, %s, %s, ''
                FROM {staging} s
                WHERE {ok} AND s.status IN ('unsubscribed', 'bounced', 'complained')
                ORDER BY s.line
                ON CONFLICT (organization_id, lower(address)) WHERE lifted_at IS NULL
                DO NOTHING
                RETURNING 1)
            SELECT count(*) FROM added"""
        ),
        [
            plan.organization.pk,
            f"import: {plan.job.file_name}"[:300],
            plan.now,
            getattr(plan.actor, "pk", None),
        ],
    )
    return cursor.fetchone()[0]


def _add_to_list(cursor, plan: ImportPlan, has_existing: bool) -> None:
    if plan.contact_list is None:
        return
    insert = """INSERT INTO {membership} (organization_id, contact_id, contact_list_id,
            added_at, added_by_id, import_job_id)
        SELECT %s, {cid}, %s, %s, %s, %s FROM {staging} s
        WHERE {ok} AND s.contact_id IS {which} NULL
        ORDER BY 2"""
    params = [
        plan.organization.pk,
        plan.contact_list.pk,
        plan.now,
        getattr(plan.actor, "pk", None),
        plan.job.pk,
    ]
    # New contacts cannot be in the list yet: a plain INSERT.
    cursor.execute(_sql(insert.replace("{which}", "")), params)
    if has_existing:
        cursor.execute(
            _sql(
                f"""WITH added AS ({insert.replace("{which}", "NOT")}
                    ON CONFLICT (contact_list_id, contact_id) DO NOTHING RETURNING contact_id)
                UPDATE {{staging}} s SET list_added = true
                FROM added a WHERE s.contact_id = a.contact_id AND {{ok}}"""
            ),
            params,
        )


def _record_events(cursor, plan: ImportPlan) -> None:
    """History rows for the existing contacts the import changed or added to the list.

    Contacts it created show the import through ``Contact.import_job`` instead: a
    million history rows would cost more than the contacts themselves.
    """
    list_name = plan.contact_list.name if plan.contact_list is not None else None
    cursor.execute(
        _sql(
            """INSERT INTO {event} (organization_id, contact_id, kind, created_at, actor_id,
                actor_label, import_job_id, details)
            SELECT %s, s.contact_id, 'imported', %s, %s, %s, %s,
                jsonb_build_object('file', %s::text, 'line', s.line, 'updated', s.changed,
                    'list', CASE WHEN s.list_added THEN %s::text END, 'status', s.status)
            FROM {staging} s
            WHERE {ok} AND s.contact_id IS NOT NULL AND (s.changed OR s.list_added)"""
        ),
        [
            plan.organization.pk,
            plan.now,
            getattr(plan.actor, "pk", None),
            plan.actor_label,
            plan.job.pk,
            plan.job.file_name,
            list_name,
        ],
    )


def _counts(cursor, plan: ImportPlan) -> dict:
    cursor.execute(
        _sql(
            """SELECT count(*),
                count(*) FILTER (WHERE {ok} AND s.contact_id IS NULL),
                count(*) FILTER (WHERE {ok} AND s.contact_id IS NOT NULL AND s.changed),
                count(*) FILTER (WHERE {ok} AND s.contact_id IS NOT NULL AND NOT s.changed),
                count(*) FILTER (WHERE s.reject_reason IS NOT NULL),
                count(*) FILTER (WHERE s.merged_into IS NOT NULL),
                count(*) FILTER (WHERE {ok} AND s.note IS NOT NULL),
                count(*) FILTER (WHERE {ok} AND s.contact_id IS NOT NULL AND s.list_added)
            FROM {staging} s"""
        )
    )
    names = ("rows", "created", "updated", "unchanged", "rejected", "merged", "warnings")
    values = cursor.fetchone()
    counts = dict(zip(names, values[:7], strict=True))
    counts["added_to_list"] = values[7] + (counts["created"] if plan.contact_list else 0)
    return counts


def _report_entries(plan: ImportPlan):
    email_column = plan.validator.column_name(plan.validator.email_index)
    with connection.connection.cursor(name="contacts_import_report_cursor") as cursor:
        cursor.itersize = 10000
        cursor.execute(
            _sql(
                """SELECT line, email, reject_reason, reject_column, reject_value, note,
                    merged_into
                FROM {staging}
                WHERE reject_reason IS NOT NULL OR merged_into IS NOT NULL OR note IS NOT NULL
                ORDER BY line"""
            )
        )
        for values in cursor:
            yield report_entry(*values, email_column)
