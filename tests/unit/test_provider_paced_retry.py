"""The outbound send's retries: the usual backoff, but never sooner than the provider asked
(its Retry-After), and a provider asking for hours is not taken at its word."""

from __future__ import annotations

from procrastinate.jobs import Job

from invekto.inbox.tasks import MAX_PROVIDER_WAIT_SECONDS, ProviderUnavailable, deliver_message


def _job(attempts: int) -> Job:
    return Job(queue="outbound", lock=None, queueing_lock=None, task_name="deliver_message",
               attempts=attempts)


def _seconds(exception: BaseException, attempts: int) -> int | None:
    decision = deliver_message.retry_strategy.get_retry_decision(exception=exception,
                                                                 job=_job(attempts))
    return None if decision is None else int(
        (decision.retry_at - decision.retry_at.now(decision.retry_at.tzinfo)).total_seconds()
        + 0.5)


def test_the_provider_s_wait_is_kept_when_longer_than_the_backoff():
    assert _seconds(ProviderUnavailable("429"), 0) == 2  # 2 ** 1, no wait asked
    assert _seconds(ProviderUnavailable("429", retry_after=30), 0) == 30
    assert _seconds(ProviderUnavailable("429", retry_after=2.2), 0) == 3  # rounded up
    assert _seconds(ProviderUnavailable("429", retry_after=1), 4) == 32  # 2 ** 5 is longer
    assert _seconds(ProviderUnavailable("429", retry_after=86_400), 0) == \
        MAX_PROVIDER_WAIT_SECONDS


def test_the_attempts_still_end_and_other_errors_are_not_retried():
    assert _seconds(ProviderUnavailable("429", retry_after=30), 8) is None
    assert _seconds(ValueError("a bug"), 0) is None
