"""The members' background work (huey, `manage.py run_huey`): the emails, and the daily job.

Mail tasks retry a few times (a mail server down for a moment); each sends at most once per member, kind and
occasion (members.services.mail.send_member_mail). The daily job at 01:20 merchant time mails "points expiring
in 30 days" and "a reward now affordable" where no event tells (bonuses, expiry, a new reward in the
catalog), and forgets expired join requests, spent sign-in links and old throttle counts.
"""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from .services import joining, notices
from .services.access import forget_spent_links
from .throttle import forget_old_windows

logger = logging.getLogger(__name__)


@db_task(retries=3, retry_delay=30)
def mail_join_request(join_id: int) -> str:
    return joining.mail_join_request(join_id)


@db_task(retries=3, retry_delay=30)
def mail_sign_in_links(email: str) -> int:
    return notices.mail_sign_in_links(email)


@db_task(retries=3, retry_delay=30)
def mail_welcome(member_number: str) -> bool:
    return notices.mail_welcome(member_number)


@db_task(retries=3, retry_delay=30)
def mail_after_purchase(event_id: int) -> dict:
    return notices.mail_after_purchase(event_id)


@db_task(retries=3, retry_delay=30)
def mail_affordable_rewards(member_number: str) -> bool:
    return notices.mail_affordable_rewards_of(member_number)


@db_task(retries=3, retry_delay=30)
def mail_tier_reached(event_id: int) -> bool:
    return notices.mail_tier_reached(event_id)


@db_periodic_task(crontab(minute="20", hour="1"))
def members_daily() -> dict[str, int]:
    done = {
        "expiring": notices.mail_points_expiring(),
        "affordable": notices.mail_affordable_rewards_daily(),
        "join_requests_forgotten": joining.forget_expired_join_requests(),
        "sign_in_links_forgotten": forget_spent_links(),
        "throttle_windows_forgotten": forget_old_windows(),
    }
    logger.info("members daily: %s", done)
    return done
