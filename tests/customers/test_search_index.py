"""The search by part of a name, email, member number or phone (customers.selectors.find_customers, the managers'
list's filter) finds what it always found, and on PostgreSQL a table of members large enough for the planner to
choose is read through the trigram indexes (customers 0005), not scanned."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from customers.filters import CustomerListFilter
from customers.selectors import customer_list, find_customers
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.postgres_only

TRIGRAM_INDEXES = {
    "customer_name_trgm_idx",
    "customer_email_trgm_idx",
    "customer_number_trgm_idx",
    "customer_phone_trgm_idx",
}
MEMBERS = 20_000


@pytest.fixture
def members():
    """A few members to look for (many_members adds MEMBERS others who share no name, email or phone with them)."""
    return {
        "zoe": CustomerFactory(
            member_number="4711000001", name="Zoë Kowalski", email="zoe.k@example.org", phone="+12125550123"
        ),
        "anna": CustomerFactory(
            member_number="4711000002", name="ANNA KOWALSKI-BERG", email="anna@kowalski.pl", phone="+48601234567"
        ),
        "emile": CustomerFactory(
            member_number="4711000003", name="Émile Durand", email="emile@durand.fr", phone="2125550199"
        ),
        "lu": CustomerFactory(member_number="4711000004", name="Lu Wei", email="", phone=""),
    }


@pytest.fixture
def many_members(members):
    """MEMBERS generated members, statistics gathered, as a chain's table would be (only there does the planner
    prefer an index to reading the table). New rows wait in a GIN index's pending list, which the planner costs
    as read in full at every search, until (auto)vacuum merges them into the index: merged here at once."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO customers_customer (member_number, name, email, phone, date_joined)
            SELECT (9000000000 + n)::text,
                   (ARRAY['Ann', 'Bob', 'Carla', 'Dmitri', 'Eve', 'Farid'])[1 + n %% 6] || ' Member' || n,
                   'member' || n || '@mail.test', '+1303' || lpad(n::text, 7, '0'), now()
            FROM generate_series(1, %s) AS n
            """,
            [MEMBERS],
        )
        for index in sorted(TRIGRAM_INDEXES):
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        cursor.execute("ANALYZE customers_customer")
    return members


def plan_of(sql: str) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        value = cursor.fetchone()[0]
    return (json.loads(value) if isinstance(value, str) else value)[0]["Plan"]


def customer_reads(plan: dict) -> set[str]:
    """How the plan reads the customers table: the indexes it scans on it, or "Seq Scan"."""
    found = set()
    if plan.get("Relation Name") == "customers_customer" and plan["Node Type"] == "Seq Scan":
        found.add("Seq Scan")
    if plan.get("Index Name", "").startswith("customer_"):
        found.add(plan["Index Name"])
    for child in plan.get("Plans", []):
        found |= customer_reads(child)
    return found


def search_sql(text: str) -> str:
    """The till's search query for `text` (find_customers' second query: no exact match)."""
    with CaptureQueriesContext(connection) as captured:
        find_customers(text)
    assert len(captured.captured_queries) == 2, "an exact match would have ended the search"
    return captured.captured_queries[1]["sql"]


def found_without_trigram_indexes(texts: list[str]) -> dict[str, list]:
    """find_customers of each text with the trigram indexes dropped (rolled back): the table read as before."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX " + ", ".join(sorted(TRIGRAM_INDEXES)))
        found = {text: find_customers(text) for text in texts}
        transaction.set_rollback(True)
    return found


def test_part_of_a_name_is_found_whatever_its_case():
    zoe = CustomerFactory(name="Zoe Kowalski")
    anna = CustomerFactory(name="ANNA KOWALSKI-BERG")
    CustomerFactory(name="Bob Stone")
    assert find_customers("kowalski") == [anna, zoe]  # by name, then member number
    assert find_customers("KoWaLsKi-b") == [anna]


def test_email_phone_digits_and_member_number_starts(members):
    assert find_customers("@example.org") == [members["zoe"]]
    assert find_customers("kowalski.pl") == [members["anna"]]
    # Digits inside a stored phone, E.164 or bare: both New York numbers share 212555.
    assert find_customers("212555") == [members["zoe"], members["emile"]]  # names in code point order: Z < É
    assert find_customers("60123") == [members["anna"]]
    # A member number is found by its start, not by digits inside it.
    assert find_customers("4711") == [members["anna"], members["lu"], members["zoe"], members["emile"]]
    assert find_customers("711000") == []


def test_a_search_of_one_or_two_characters_still_finds_and_keeps_the_limit(members):
    """No trigram is in one or two characters: on PostgreSQL such a search cannot use the trigram indexes and
    reads every member (a sequential scan: bench/till_search.py measures it), as every search did before them.
    It stays allowed: "Lu" is a whole name."""
    assert find_customers("lu") == [members["lu"]]
    assert find_customers("W") == [members["anna"], members["lu"], members["zoe"]]  # KOWALSKI, Wei, Kowalski
    assert find_customers("a", limit=2) == [members["anna"], members["zoe"]]


@postgres_only
def test_accented_names_are_found_whatever_their_case_on_postgresql(members):
    """PostgreSQL upper-cases é to É (UTF-8 database); SQLite's LIKE folds only ASCII letters, and did before."""
    assert find_customers("émile") == [members["emile"]]
    assert find_customers("ZOË") == [members["zoe"]]
    assert find_customers("zoe kow") == []  # accents are not folded: ë is not e


@postgres_only
def test_the_till_search_reads_the_trigram_indexes_of_a_large_table(many_members):
    assert customer_reads(plan_of(search_sql("kowalski"))) == {
        "customer_name_trgm_idx",
        "customer_email_trgm_idx",
        "customer_number_trgm_idx",
    }
    # With four digits or more the phone is searched too, by its own index.
    assert customer_reads(plan_of(search_sql("5550123"))) == TRIGRAM_INDEXES


@postgres_only
def test_a_two_character_search_reads_the_whole_table(many_members):
    assert customer_reads(plan_of(search_sql("lu"))) == {"Seq Scan"}


@postgres_only
def test_the_managers_list_filter_reads_the_trigram_indexes_of_a_large_table(many_members):
    rows = CustomerListFilter({"q": "kowalski"}, queryset=customer_list()).qs.order_by("member_number")
    with CaptureQueriesContext(connection) as captured:
        page = list(rows[:25])
        count = rows.count()
    assert [customer.name for customer in page] == ["Zoë Kowalski", "ANNA KOWALSKI-BERG"]
    assert count == 2
    for query in captured.captured_queries:
        reads = customer_reads(plan_of(query["sql"]))
        assert "Seq Scan" not in reads
        assert {"customer_name_trgm_idx", "customer_email_trgm_idx"} <= reads


@postgres_only
def test_the_indexes_find_what_reading_the_table_finds(many_members):
    texts = ["kowalski", "KOWALSKI-", "émile", "@example", "k.pl", "5550123", "212555", "4711", "member1", "lu", "x"]
    with_indexes = {text: find_customers(text) for text in texts}
    assert with_indexes == found_without_trigram_indexes(texts)
    assert len(with_indexes["member1"]) == 20  # the limit, of many more matches
