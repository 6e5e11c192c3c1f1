"""API keys, and what the API remembers of each Idempotency-Key it was sent."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ApiKeyRole(models.TextChoices):
    STAFF = "staff", "Store staff"
    MANAGER = "manager", "Manager"


class ApiKey(models.Model):
    """A key that the shop's other systems (point of sale, web shop) send as `Authorization: Bearer <key>`.

    The key itself is shown once, when it is created; only its prefix (to find it) and a SHA-256 hash of its
    secret part are stored (api.keys explains why a fast hash is right for a random 256-bit secret).

    Each key records as an account of its own (`user`): an inactive account with no password and no role,
    so it can never sign in, that stands for the key wherever the product names who did something
    (`recorded_by` on transactions, `created_by` on ledger entries, the audit trail's actor).
    """

    Role = ApiKeyRole

    name = models.CharField(max_length=100, help_text="What uses the key, e.g. 'Web shop' or 'Till 3 (POS)'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    role = models.CharField(max_length=10, choices=Role.choices)
    # A key bound to a store records there only; without one it may name any open store.
    store = models.ForeignKey("transactions.Store", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_key", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The keys page's form that created it: a resubmitted form (a refresh, a double click) creates no second key.
    form_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    # The key's rate window (api.throttling): the start of the current window and the calls made in it,
    # counted by one conditional UPDATE per call, so every web process shares one count.
    window_start = models.DateTimeField(null=True, blank=True, editable=False)
    window_calls = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(role__in=ApiKeyRole.values), name="apikey_role_valid"),
            models.CheckConstraint(
                condition=Q(revoked_by__isnull=True) | Q(revoked_at__isnull=False),
                name="apikey_revoker_only_when_revoked",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def is_manager(self) -> bool:
        return self.role == ApiKeyRole.MANAGER


class IdempotencyRecord(models.Model):
    """The first successful answer to a POST sent with an `Idempotency-Key`, per API key.

    A retry with the same key and the same request gets this answer again and writes nothing; the same key
    with another request is refused. The row is written in the same database transaction as what the request
    recorded, before it (its unique key is the lock that makes concurrent retries wait for the first), so
    there is never a purchase without its record nor a record without its purchase. Kept for
    LOYALTY_API_IDEMPOTENCY_DAYS (api.tasks forgets older ones daily).
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    # SHA-256 of the method, the path and the request's JSON body (canonical: key order and spacing ignored).
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(default=0)
    # The answer's JSON as text, not a JSONField: PostgreSQL's jsonb would reorder its keys, and a retry gets
    # the first answer exactly as it was.
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_once_per_api_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"
