"""BatchIntake and BatchProgressReader on fakes: each recipient checked on its own, opt-outs read
together, nothing recorded or queued when all are refused, slices within SQS's bounds; a batch's
counts and status from its recipients' messages, its cancel final, another tenant's absent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from sinch_gateway.api.models import BatchRequest
from sinch_gateway.domain.batches import (
    MAX_SLICE_CHARS,
    BatchAccepted,
    BatchRefused,
    BatchStatus,
    RefusalType,
    SliceRecipient,
    slice_weight,
    slices,
)
from sinch_gateway.domain.content import SmsContent
from sinch_gateway.domain.errors import BatchNotFound, InvalidRequest, MmsNotAllowed
from sinch_gateway.domain.message import MessageRecord
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.tenants import TenantPolicy
from sinch_gateway.media.preflight import MediaInfo
from sinch_gateway.usecases.admission import Admission
from sinch_gateway.usecases.batch_intake import BatchIntake
from sinch_gateway.usecases.batch_progress import BatchProgressReader
from tests.unit.fakes import (
    FakeBatchStore,
    FakeMediaStore,
    FakeMessageStore,
    FakeOptOuts,
    FakeRetryQueue,
    FakeTemplateStore,
    FakeTenantStore,
)

TENANT, OTHER = "t1", "t2"
SENDER = "+12025550100"
ANN, BOB, CAROL = "+12025550143", "+12025550144", "+12025550145"
WEBHOOK = "https://gateway.example.com/v1/webhooks/sinch/delivery-reports"


@dataclass
class World:
    tenants: FakeTenantStore = field(default_factory=FakeTenantStore)
    opt_outs: FakeOptOuts = field(default_factory=FakeOptOuts)
    batches: FakeBatchStore = field(default_factory=FakeBatchStore)
    queue: FakeRetryQueue = field(default_factory=FakeRetryQueue)
    media: FakeMediaStore = field(default_factory=FakeMediaStore)
    messages: FakeMessageStore = field(default_factory=FakeMessageStore)
    fetched: list[str] = field(default_factory=list)

    def check_media(
        self, urls: Sequence[str], *, budget_s: float | None = None
    ) -> list[MediaInfo | InvalidRequest]:
        self.fetched.extend(urls)
        return [MediaInfo(url, "image/jpeg", b"\xff\xd8\xff") for url in urls]

    @property
    def intake(self) -> BatchIntake:
        admission = Admission(
            self.tenants,
            self.check_media,
            FakeTemplateStore(),
            opt_outs=self.opt_outs,
            sender_number=lambda: SENDER,
            check_callback=lambda url: None,
            media=self.media,
        )
        return BatchIntake(admission, self.batches, self.queue)

    @property
    def progress(self) -> BatchProgressReader:
        return BatchProgressReader(self.batches, self.messages)

    def accept(
        self, batch_id: str = "b-1", tenant: str = TENANT, **request: object
    ) -> BatchAccepted | BatchRefused:
        command = BatchRequest.model_validate({"text": "Hi", **request}).command()
        return self.intake.accept(command, tenant, WEBHOOK, batch_id)


@pytest.fixture
def world() -> World:
    return World()


def test_each_recipient_is_checked_on_its_own_and_refusals_keep_their_order(world: World) -> None:
    world.tenants = FakeTenantStore(t1=TenantPolicy(allowed_countries=frozenset({"US"})))
    world.opt_outs.set(CAROL, SENDER, opted_out=True)

    result = world.accept(
        to=[ANN, "12", CAROL, "+61491570156", "+1 202 555 0143", BOB, "+12025550146", "+12025550147"],
        text="Hi ${name}, ${code}",
        parameters={
            "name": {"default": "you"},
            "code": {ANN: "1", BOB: "2", CAROL: "3", "+12025550147": "x" * 158, "+61491570156": "4"},
        },
        maxParts=1,
    )

    assert isinstance(result, BatchAccepted)
    assert [(r.to, r.type) for r in result.refused] == [
        ("12", RefusalType.MALFORMED),
        (CAROL, RefusalType.OPTED_OUT),
        ("+61491570156", RefusalType.NOT_ALLOWED),
        ("+1 202 555 0143", RefusalType.DUPLICATE),
        ("+12025550146", RefusalType.MISSING_PARAMETER),
        ("+12025550147", RefusalType.TOO_MANY_PARTS),
    ]
    assert "2 segments" in result.refused[-1].detail
    assert (result.batch.recipients, result.batch.refused, result.batch.slices) == (2, 6, 1)
    assert result.batch.defaults == {"name": "you"}
    [(queued, delay)] = world.queue.slices
    assert queued.recipients == (SliceRecipient(ANN, {"code": "1"}), SliceRecipient(BOB, {"code": "2"}))
    assert (queued.batch_id, queued.tenant_id, queued.index, delay) == ("b-1", TENANT, 0, 0.0)
    assert world.opt_outs.reads == 1  # every recipient's opt-out in one bulk read


def test_all_refused_records_nothing_queues_nothing_and_fetches_no_media(world: World) -> None:
    world.opt_outs.set(ANN, SENDER, opted_out=True)

    result = world.accept(to=[ANN, "nope"], mediaUrl="https://media.example.com/a.jpg")

    assert isinstance(result, BatchRefused)
    assert [r.type for r in result.refused] == [RefusalType.OPTED_OUT, RefusalType.MALFORMED]
    assert (world.batches.batches, world.queue.slices, world.fetched) == ({}, [], [])


def test_the_content_is_admitted_once_for_every_recipient(world: World) -> None:
    result = world.accept(to=[ANN, BOB, CAROL], mediaUrl="https://media.example.com/a.jpg")

    assert isinstance(result, BatchAccepted)
    assert world.fetched == ["https://media.example.com/a.jpg"]
    assert len(world.media.objects) == 1


def test_what_the_whole_batch_fails_on_is_raised_before_anything_is_done(world: World) -> None:
    world.tenants = FakeTenantStore(t1=TenantPolicy(mms_allowed=False))

    with pytest.raises(MmsNotAllowed):
        world.accept(to=[ANN], mediaUrl="https://media.example.com/a.jpg")

    assert (world.batches.batches, world.queue.slices, world.opt_outs.reads) == ({}, [], 0)


def test_the_same_batch_id_again_finds_the_batch_and_queues_its_slices_again(world: World) -> None:
    first = world.accept(to=[ANN, BOB])
    again = world.accept(to=[ANN, BOB])

    assert isinstance(first, BatchAccepted) and isinstance(again, BatchAccepted)
    assert again.batch == first.batch
    assert len(world.batches.batches) == 1
    assert [s.index for s, _ in world.queue.slices] == [0, 0]  # the fan-out takes each recipient once


def test_slices_hold_at_most_1000_recipients_and_max_slice_chars() -> None:
    many = [SliceRecipient(f"+1202555{n:04d}") for n in range(2500)]
    assert [len(s.recipients) for s in slices("b", TENANT, many)] == [1000, 1000, 500]

    heavy = [SliceRecipient(f"+1202555{n:04d}", {"a": "\u00e9" * 160, "b": "x" * 160}) for n in range(1000)]
    cut = slices("b", TENANT, heavy)
    assert len(cut) > 1
    assert all(sum(slice_weight(r) for r in s.recipients) <= MAX_SLICE_CHARS for s in cut)
    assert [r for s in cut for r in s.recipients] == heavy
    assert [s.index for s in cut] == list(range(len(cut)))


def test_a_batch_request_checks_max_parts_per_recipient_when_the_text_has_placeholders() -> None:
    long_text = "x" * 200 + "${name}"  # 2 parts as written: each recipient's text is what counts
    command = BatchRequest.model_validate({"to": [ANN], "text": long_text, "maxParts": 1}).command()
    assert command.max_parts == 1
    with pytest.raises(ValueError, match="needs 2 segments"):  # no placeholder: checked at once
        BatchRequest.model_validate({"to": [ANN], "text": "x" * 200, "maxParts": 1})


def test_parameters_are_keyed_by_the_number_as_e164(world: World) -> None:
    request = BatchRequest.model_validate(
        {"to": [ANN], "text": "Hi ${n}", "parameters": {"n": {"+1 (202) 555-0143": "Ann", "default": "x"}}}
    )
    assert request.command().parameters == {"n": {ANN: "Ann", "default": "x"}}
    with pytest.raises(ValueError, match="twice"):
        BatchRequest.model_validate(
            {"to": [ANN], "text": "Hi", "parameters": {"n": {ANN: "a", "+1 202 555 0143": "b"}}}
        )


# --- progress and cancel ----------------------------------------------------------------------------


def seed(world: World, to: str, status: Status, batch_id: str = "b-1") -> None:
    world.messages.seed(
        MessageRecord(
            tenant_id=TENANT, to=to, content=SmsContent(text="Hi"), status=status, batch_id=batch_id
        )
    )


def test_recipients_without_a_message_count_as_accepted_and_the_status_follows(world: World) -> None:
    world.accept(to=[ANN, BOB, CAROL])
    assert world.progress.progress(TENANT, "b-1").status is BatchStatus.ACCEPTED

    seed(world, ANN, Status.SUBMITTED)
    seed(world, BOB, Status.RETRYING)
    seed(world, "+12025550199", Status.DELIVERED, batch_id="b-other")
    progress = world.progress.progress(TENANT, "b-1")
    assert (progress.status, progress.counts) == (
        BatchStatus.SENDING,
        {Status.SUBMITTED: 1, Status.RETRYING: 1, Status.ACCEPTED: 1},
    )

    seed(world, CAROL, Status.CANCELLED)
    world.messages.seed(
        MessageRecord(
            id=next(r.id for r in world.messages.records() if r.to == BOB),
            tenant_id=TENANT,
            to=BOB,
            content=SmsContent(text="Hi"),
            status=Status.DELIVERED,
            batch_id="b-1",
        )
    )
    assert world.progress.progress(TENANT, "b-1").status is BatchStatus.DONE


def test_a_cancel_is_final_and_another_tenants_batch_is_not_found(world: World) -> None:
    world.accept(to=[ANN])

    with pytest.raises(BatchNotFound):
        world.progress.progress(OTHER, "b-1")
    with pytest.raises(BatchNotFound):
        world.progress.cancel(OTHER, "b-1")
    assert world.batches.batches["b-1"].status is BatchStatus.ACCEPTED

    assert world.progress.cancel(TENANT, "b-1").status is BatchStatus.CANCELLED
    again = world.progress.cancel(TENANT, "b-1")  # a cancel of a cancelled batch: the same
    assert (again.status, again.batch.status) == (BatchStatus.CANCELLED, BatchStatus.CANCELLED)
    assert world.batches.batches["b-1"].status.value == "cancelled"
