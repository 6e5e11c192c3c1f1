"""The daily jobs, scheduled by the background worker (`manage.py run_huey`).

Each is idempotent (safe twice, safe late), so several workers, a missed night or a cron entry running the
same management command beside the worker never award, expire or move anything twice. Times are the
merchant's (TIME_ZONE): the worker runs with `utc=False` and Django sets the process's TZ.
"""

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from rewards.local_time import current_month
from rewards.partitions import maintain
from rewards.services.bonuses import award_birthday_bonuses
from rewards.services.expiry import expire_points
from rewards.services.tiers import review_tiers

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="0", hour="1"))
def expire_points_daily() -> int:
    posted = expire_points()
    logger.info("expire_points: %s expiry entries posted", posted)
    return posted


@db_periodic_task(crontab(minute="5", hour="1"))
def review_tiers_daily() -> dict[str, int]:
    moved = review_tiers()
    logger.info("review_tiers: %s up, %s down", moved["up"], moved["down"])
    return moved


@db_periodic_task(crontab(minute="10", hour="1"))
def award_birthday_bonuses_daily() -> int:
    try:
        awarded = award_birthday_bonuses()
    except LookupError:  # no rule version in force yet: nothing to award
        logger.warning("award_birthday_bonuses: no rule version in force", exc_info=True)
        return 0
    logger.info("award_birthday_bonuses: %s awarded", awarded)
    return awarded


@db_periodic_task(crontab(minute="25", hour="1"))
def maintain_ledger_partitions_daily() -> list[str]:
    """PostgreSQL: the ledger's months ahead, and whatever reached its DEFAULT partition in months of its own."""
    made = maintain(current_month())
    logger.info("ledger partitions made: %s", ", ".join(f"{month:%Y-%m}" for month in made) or "none")
    return [f"{month:%Y-%m}" for month in made]
