"""The members' side: a member's card link and email confirmation, joining by themselves, the emails they
choose to hear, the surveys they answer, and the counters that throttle the public pages.

Members are `customers.Customer` rows, not accounts: a member proves who they are by holding their card link
or a one-time link mailed to their address, and their session is a signed cookie (members.services.access).
Every secret link is stored only as a SHA-256 hash: the database alone cannot open a card.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class MailKind(models.TextChoices):
    """The emails a member can switch on and off, declared once (members.services.mail has one class each)."""

    WELCOME = "welcome", "Welcome, with your card link"
    POINTS_EARNED = "points_earned", "Your points after each purchase"
    REWARD_AFFORDABLE = "reward_affordable", "A reward you can now afford"
    POINTS_EXPIRING = "points_expiring", "Points about to expire (30 days ahead)"
    TIER_REACHED = "tier_reached", "A new tier reached"


class Membership(models.Model):
    """What the members' side keeps about a customer: created when first needed (joining, a card link, a
    sign-in), so customers enrolled at the till or imported have none until then."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.PROTECT, primary_key=True, related_name="membership"
    )
    # The card link's key, hashed (SHA-256, hex); empty when no link is in force (never issued, or revoked).
    card_key_hash = models.CharField(max_length=64, blank=True, default="")
    card_key_issued_at = models.DateTimeField(null=True, blank=True)
    # Part of every member session cookie: revoking the card link, or erasing the member, moves it on and so
    # signs out every phone that held the card.
    session_version = models.PositiveIntegerField(default=1)
    # What the member shares to bring friends: /join/?ref=CODE. Empty once erased.
    referral_code = models.CharField(max_length=16, null=True, blank=True, unique=True)
    # When the member proved the address is theirs (the join link, or an emailed sign-in link).
    email_confirmed_at = models.DateTimeField(null=True, blank=True)
    # Joined by themselves at /join/ (empty for members enrolled at the till or imported).
    joined_online_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["card_key_hash"], condition=~Q(card_key_hash=""), name="membership_card_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Membership of {self.customer_id}"


class JoinRequest(models.Model):
    """A visitor's join form, waiting for the emailed link that proves the address. The customer is enrolled
    only when it is confirmed, so unconfirmed or mistyped sign-ups never become members (nor earn the
    enrolment bonus). Deleted when confirmed, and daily once expired: it holds personal data."""

    # The confirmation link's token, hashed; set when the mail goes out (members.tasks).
    token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=32, blank=True)
    birthday = models.DateField(null=True, blank=True)
    # The emails ticked on the form, with the words the visitor read (members.services.mail), for the record.
    mail_kinds = models.JSONField(default=list, blank=True)
    consent_wording = models.JSONField(default=dict, blank=True)
    referred_by = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="joinrequest_expires_idx")]

    def __str__(self) -> str:
        return f"Join request {self.pk}"


class SignInLink(models.Model):
    """A one-time sign-in link mailed to a member: valid for minutes, used once."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="signinlink_expires_idx")]

    def __str__(self) -> str:
        return f"Sign-in link {self.pk} for {self.customer_id}"


class MailChoice(models.Model):
    """One change of a member's choice to receive a kind of email: consent given (with the words they agreed
    to) or withdrawn (an unsubscribe link, the card's settings). Append-only: the latest row of a kind is the
    member's choice, and the rows before it are the record of consent."""

    class Source(models.TextChoices):
        JOIN_FORM = "join_form", "Join form"
        CARD = "card", "Email settings on the card"
        UNSUBSCRIBE_LINK = "unsubscribe_link", "Unsubscribe link"
        ONE_CLICK = "one_click", "One-click unsubscribe (mail client)"

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="mail_choices")
    kind = models.CharField(max_length=24, choices=MailKind.choices)
    subscribed = models.BooleanField()
    at = models.DateTimeField(default=timezone.now)
    wording = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)

    class Meta:
        indexes = [models.Index(fields=["customer", "kind", "-at"], name="mailchoice_latest_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=MailKind.values), name="mailchoice_kind_valid"),
            # Consent is recorded with the words it was given to.
            models.CheckConstraint(
                condition=Q(subscribed=False) | ~Q(wording=""), name="mailchoice_consent_has_wording"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.kind} {'on' if self.subscribed else 'off'}"


class SentMail(models.Model):
    """One member email sent: the key names the occasion (an event, a reward's affordability, a lapse date),
    so a repeated event, a retried task or the daily job never sends the same email twice."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=24, choices=MailKind.choices)
    key = models.CharField(max_length=100)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind", "key"], name="sentmail_once_per_occasion"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} to {self.customer_id}"


class Feedback(models.Model):
    """A member's answer to "How likely are you to recommend us to a friend?" (0–10) about one purchase."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="feedback")
    # The purchase it was asked after: its store and month are the report's; one answer per purchase.
    transaction = models.OneToOneField("transactions.Transaction", on_delete=models.PROTECT, related_name="feedback")
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-answered_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=10), name="feedback_score_0_to_10"),
        ]
        indexes = [
            # The report's period, and a member's last answer (the once-per-N-days rule).
            models.Index(fields=["answered_at"], name="feedback_answered_idx"),
            models.Index(fields=["customer", "-answered_at"], name="feedback_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"Feedback {self.score} from {self.customer_id}"


class MemberSettings(models.Model):
    """The merchant's switches for the members' side, one row per program (managers: /program/members/)."""

    program = models.OneToOneField("rewards.Program", on_delete=models.CASCADE, primary_key=True, related_name="+")
    join_open = models.BooleanField(default=True)
    # A member is asked for feedback at most once in this many days.
    feedback_interval_days = models.PositiveSmallIntegerField(default=90)
    # The kinds of member email the merchant has switched off (MailKind values).
    mail_off = models.JSONField(default=list, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "member settings"
        constraints = [
            models.CheckConstraint(condition=Q(feedback_interval_days__gte=1), name="membersettings_interval_positive"),
        ]

    def __str__(self) -> str:
        return f"Member settings of {self.program_id}"


class ThrottleWindow(models.Model):
    """How many attempts one client (or one email address) made at a public page in one fixed window.
    Counted with a conditional UPDATE, so concurrent requests never undercount (members.throttle)."""

    scope = models.CharField(max_length=24)
    # HMAC of the address or email: the table never holds an address in clear.
    key = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key", "window_start"], name="throttlewindow_unique"),
        ]
        indexes = [models.Index(fields=["window_start"], name="throttlewindow_start_idx")]

    def __str__(self) -> str:
        return f"{self.scope} {self.window_start:%Y-%m-%d %H:%M} {self.count}"
