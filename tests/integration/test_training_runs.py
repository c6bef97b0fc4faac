"""Training-request claims against a moto DynamoDB table (humwatch.dal.training_runs): a request
runs once; a duplicate of a served one does nothing; a live run is left alone; a dead one is taken
over by the retry once its lease ran out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from humwatch import contracts as c
from humwatch.dal.history import HistoryTable
from humwatch.dal.training_runs import Claim

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
LEASE = timedelta(minutes=16)


def test_the_first_delivery_claims_the_request_and_a_second_finds_it_busy(history: HistoryTable) -> None:
    runs = history.training_runs
    # Given a run that claimed the request
    assert runs.claim("fan-02", "baseline-1", now=T0, lease=LEASE) is Claim.TAKEN
    # When the same message is delivered again while that run's lease is live
    again = runs.claim("fan-02", "baseline-1", now=T0 + LEASE - timedelta(seconds=5), lease=LEASE)
    # Then it is busy (the delivery comes back later), and the claim is unchanged
    assert again is Claim.BUSY
    item = history.table.get(c.device_pk("fan-02"), c.training_run_sk("baseline-1"))
    assert item is not None and item["lease_until"] == int((T0 + LEASE).timestamp())


def test_a_served_request_is_done_for_every_later_duplicate(history: HistoryTable) -> None:
    runs = history.training_runs
    # Given a request that was claimed and served
    runs.claim("fan-02", "retrain-1", now=T0, lease=LEASE)
    runs.finish("fan-02", "retrain-1", outcome="candidate 20261204T100000Z")
    # When duplicates arrive, during the lease and long after it
    early = runs.claim("fan-02", "retrain-1", now=T0 + timedelta(minutes=1), lease=LEASE)
    late = runs.claim("fan-02", "retrain-1", now=T0 + timedelta(days=2), lease=LEASE)
    # Then both are done: nothing trains twice
    assert early is Claim.DONE and late is Claim.DONE
    item = history.table.get(c.device_pk("fan-02"), c.training_run_sk("retrain-1"))
    assert item is not None and item["outcome"] == "candidate 20261204T100000Z"


def test_a_run_that_died_is_taken_over_once_its_lease_ran_out(history: HistoryTable) -> None:
    runs = history.training_runs
    # Given a run that claimed the request and died without finishing
    runs.claim("fan-02", "baseline-2", now=T0, lease=LEASE)
    # When the queue redelivers the message after the lease
    later = T0 + LEASE + timedelta(seconds=1)
    taken = runs.claim("fan-02", "baseline-2", now=later, lease=LEASE)
    # Then the retry takes it over with a new lease, and a third delivery finds it busy again
    assert taken is Claim.TAKEN
    item = history.table.get(c.device_pk("fan-02"), c.training_run_sk("baseline-2"))
    assert item is not None and item["lease_until"] == int((later + LEASE).timestamp())
    assert runs.claim("fan-02", "baseline-2", now=later + timedelta(minutes=1), lease=LEASE) is Claim.BUSY


def test_claims_are_per_device_and_per_request(history: HistoryTable) -> None:
    runs = history.training_runs
    # Given a claim of one device's request
    runs.claim("fan-02", "retrain-1", now=T0, lease=LEASE)
    # Then the same request id of another device, and another request of the same device, are free
    assert runs.claim("fan-03", "retrain-1", now=T0, lease=LEASE) is Claim.TAKEN
    assert runs.claim("fan-02", "retrain-2", now=T0, lease=LEASE) is Claim.TAKEN
