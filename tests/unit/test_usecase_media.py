"""Kept media on fakes: admission keeps exactly the checked bytes, and Sinch is given a fresh link to
them at every attempt (never the caller's URL), made when the message goes to Sinch: a scheduled MMS
waits in the gateway until it is due."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.template import Template
from sinch_gateway.api.messages import MessagesEndpoint
from sinch_gateway.api.models import MAX_SCHEDULE_AHEAD, SendMessageRequest, TemplateRequest
from sinch_gateway.api.problems import problem_kind
from sinch_gateway.domain.commands import SendCommand
from sinch_gateway.domain.content import MmsSlidesContent, Slide, SlideMedia, SmsContent, XmsMediaContent
from sinch_gateway.domain.errors import InvalidRequest, MediaUnavailable
from sinch_gateway.domain.message import MessageDraft, utcnow
from sinch_gateway.domain.outcomes import Accepted, DryRun, NotFound, SendOutcome, Transient
from sinch_gateway.domain.status import Status
from sinch_gateway.media.preflight import MediaInfo
from sinch_gateway.usecases import sending
from sinch_gateway.usecases.admission import Admission
from sinch_gateway.usecases.media import MAX_LINK_S, link_lifetime_s
from sinch_gateway.usecases.send_message import SendMessage
from sinch_gateway.usecases.templates import Templates
from tests.unit.fakes import SENDER_NUMBER, FakeOptOuts, FakeTemplateStore, FakeTenantStore, Sending

TENANT = "k1l2m3n4o5"
CALLBACK = "https://api.example.com/v1-stage/v1/webhooks/sinch/delivery-reports"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(200)) + b"\xff\xd9"
MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64" + bytes(64)
DAY = 86_400


class Host:
    """Media hosts as the preflight sees them: URL -> (type, bytes), or a refusal."""

    def __init__(self, **files: tuple[str, bytes]) -> None:
        self.files = {f"https://media.example/{name.replace('_', '.')}": f for name, f in files.items()}
        self.checked: list[str] = []
        self.calls: list[list[str]] = []  # the URLs of each call: one request's, together

    def __call__(
        self, urls: Sequence[str], *, budget_s: float | None = None
    ) -> list[MediaInfo | InvalidRequest]:
        self.checked.extend(urls)
        self.calls.append(list(urls))
        return [self._check(url) for url in urls]

    def _check(self, url: str) -> MediaInfo | InvalidRequest:
        if "down" in url:  # a host that may be back later
            return MediaUnavailable("Not now.", errors=[("mediaUrl", "answered HTTP 503")])
        if url not in self.files:
            return InvalidRequest(
                "The media URL cannot be used for an MMS.", errors=[("mediaUrl", "answered HTTP 404")]
            )
        content_type, body = self.files[url]
        return MediaInfo(url, content_type, body)


@pytest.fixture
def world() -> Sending:
    return Sending()


@pytest.fixture
def host() -> Host:
    return Host(a_jpg=("image/jpeg", JPEG), b_mp3=("audio/mpeg", MP3), c_mp3=("audio/mpeg", MP3))


@pytest.fixture
def admission(world: Sending, host: Host) -> Admission:
    return Admission(
        FakeTenantStore(),
        host,
        FakeTemplateStore(),
        opt_outs=FakeOptOuts(),
        sender_number=lambda: None,
        check_callback=lambda url: None,
        media=world.media,
    )


def mms_request(**fields: object) -> SendMessageRequest:
    return SendMessageRequest.model_validate({"to": "+12025550143", "subject": "Sale", **fields})


def mms(**fields: object) -> SendCommand:
    return mms_request(**fields).command()


def sinch_gets(world: Sending, url: str) -> tuple[str, bytes] | None:
    return world.media.fetch(url)


# --- what is kept -----------------------------------------------------------------------------


def test_an_mms_is_sent_as_a_link_to_the_bytes_that_were_checked(
    world: Sending, admission: Admission, host: Host
) -> None:
    world.xms.on_send(Accepted("batch-1"))
    draft = admission.admit(mms(mediaUrl="https://media.example/a.jpg"), TENANT)
    host.files["https://media.example/a.jpg"] = ("image/jpeg", b"something else entirely")  # changed after

    world.sender.submit(draft, CALLBACK, TENANT)

    [sent] = world.xms.sent
    assert isinstance(sent.content, XmsMediaContent)
    assert sent.content.media_url != "https://media.example/a.jpg"  # never the caller's URL
    assert sinch_gets(world, sent.content.media_url) == ("image/jpeg", JPEG)
    # The record keeps the caller's URL (what GET shows them) and the copy's key.
    assert isinstance(draft.content, XmsMediaContent)
    assert draft.content.media_url == "https://media.example/a.jpg" and draft.content.media_key


def test_each_slide_media_is_kept_and_linked(world: Sending, admission: Admission) -> None:
    world.mms.on_send(Accepted("mms-1"))
    slides = [
        {"text": "one", "mediaUrl": ["https://media.example/a.jpg", "https://media.example/b.mp3"]},
        {"text": "two"},
        {"mediaUrl": "https://media.example/c.mp3"},
    ]
    draft = admission.admit(mms(slides=slides, fallbackText="Sale today"), TENANT)

    world.sender.submit(draft, CALLBACK, TENANT)

    [sent] = world.mms.sent
    assert isinstance(sent.content, MmsSlidesContent)
    got = [[sinch_gets(world, m.url) for m in slide.media] for slide in sent.content.slides]
    assert got == [[("image/jpeg", JPEG), ("audio/mpeg", MP3)], [], [("audio/mpeg", MP3)]]
    assert len(world.media.objects) == 3  # the same bytes twice are still two copies of their own


def test_every_check_of_every_slide_passes_before_anything_is_kept(
    world: Sending, admission: Admission
) -> None:
    bad_combination = [
        {"mediaUrl": "https://media.example/a.jpg"},
        {"mediaUrl": ["https://media.example/b.mp3", "https://media.example/c.mp3"]},
    ]
    with pytest.raises(InvalidRequest) as exc:
        admission.admit(mms(slides=bad_combination, fallbackText="x"), TENANT)
    assert exc.value.errors[0][0] == "slides[1].mediaUrl"
    missing = [{"mediaUrl": "https://media.example/a.jpg"}, {"mediaUrl": "https://media.example/gone.jpg"}]
    with pytest.raises(InvalidRequest):
        admission.admit(mms(slides=missing, fallbackText="x"), TENANT)
    with pytest.raises(InvalidRequest):
        admission.admit(mms(mediaUrl="https://media.example/gone.jpg"), TENANT)
    assert world.media.objects == {}


def test_every_file_of_a_request_is_checked_at_once_and_every_failing_field_is_named(
    world: Sending, admission: Admission, host: Host
) -> None:
    slides = [
        {"mediaUrl": "https://media.example/gone.jpg"},
        {"mediaUrl": ["https://media.example/a.jpg", "https://media.example/down.jpg"]},
        {"mediaUrl": "https://media.example/b.mp3"},
    ]
    with pytest.raises(InvalidRequest) as exc:
        admission.admit(mms(slides=slides, fallbackText="x"), TENANT)
    assert exc.value.errors == [
        ("slides[0].mediaUrl", "answered HTTP 404"),
        ("slides[1].mediaUrl", "answered HTTP 503"),
    ]
    # One of them can never pass as it is: the answer is final, not "try later".
    assert not isinstance(exc.value, MediaUnavailable)
    assert host.calls == [[f"https://media.example/{n}" for n in ("gone.jpg", "a.jpg", "down.jpg", "b.mp3")]]
    assert world.media.objects == {}


def test_media_that_may_pass_later_is_refused_as_unavailable(world: Sending, admission: Admission) -> None:
    for request in (
        mms(mediaUrl="https://media.example/down.jpg"),
        mms(slides=[{"mediaUrl": "https://media.example/down.jpg"}, {"text": "t"}], fallbackText="x"),
    ):
        with pytest.raises(MediaUnavailable) as exc:
            admission.admit(request, TENANT)
        kind = problem_kind(exc.value)
        assert (kind.status, kind.type) == (422, "/problems/media-unavailable")
        assert "may pass later" in exc.value.detail
    assert world.media.objects == {}


def test_a_check_without_keeping_checks_everything_and_writes_nothing(
    world: Sending, admission: Admission, host: Host
) -> None:
    slides = [{"mediaUrl": ["https://media.example/a.jpg", "https://media.example/b.mp3"]}]
    draft = admission.check(mms(slides=slides, fallbackText="x"), TENANT)
    assert isinstance(draft.content, MmsSlidesContent)
    assert [m.key for m in draft.content.slides[0].media] == [None, None]
    assert [m.content_type for m in draft.content.slides[0].media] == ["image/jpeg", "audio/mpeg"]
    assert host.checked == ["https://media.example/a.jpg", "https://media.example/b.mp3"]
    with pytest.raises(InvalidRequest):
        admission.check(mms(mediaUrl="https://media.example/gone.jpg"), TENANT)
    assert world.media.objects == {}


def test_a_dry_run_keeps_no_media(world: Sending, admission: Admission) -> None:
    world.xms.on_dry_run(DryRun(number_of_messages=1))
    send_message = SendMessage(world.sender, admission)
    result = send_message.dry_run(mms(mediaUrl="https://media.example/a.jpg"), TENANT)
    assert result.number_of_messages == 1
    assert world.media.objects == {} and world.media.links == []
    assert world.store.records() == []


def test_media_that_may_pass_later_is_raised_not_answered_so_no_idempotency_record_keeps_it(
    world: Sending, admission: Admission
) -> None:
    endpoint = MessagesEndpoint(SendMessage(world.sender, admission), "unused-idempotency-table")
    with pytest.raises(MediaUnavailable):
        endpoint.answer(mms_request(mediaUrl="https://media.example/down.jpg"), CALLBACK, TENANT)
    refused = endpoint.answer(mms_request(mediaUrl="https://media.example/gone.jpg"), CALLBACK, TENANT)
    assert refused.status == 422  # final: an answer, kept under an Idempotency-Key like any other
    assert world.xms.calls == []


def test_two_tenants_sending_the_same_url_get_copies_of_their_own(
    world: Sending, admission: Admission
) -> None:
    first = admission.admit(mms(mediaUrl="https://media.example/a.jpg"), TENANT)
    second = admission.admit(mms(mediaUrl="https://media.example/a.jpg"), "another-tenant")
    assert isinstance(first.content, XmsMediaContent) and isinstance(second.content, XmsMediaContent)
    assert first.content.media_key != second.content.media_key


def test_a_record_without_a_kept_copy_still_sends_its_url(world: Sending) -> None:
    # Recorded before copies were kept (a retry across the deploy): Sinch fetches the URL itself.
    world.xms.on_send(Accepted("batch-1"))
    old = MessageDraft(to="+12025550143", content=XmsMediaContent(media_url="https://media.example/a.jpg"))
    world.sender.submit(old, CALLBACK, TENANT)
    [sent] = world.xms.sent
    assert isinstance(sent.content, XmsMediaContent)
    assert sent.content.media_url == "https://media.example/a.jpg"
    assert world.media.links == []


# --- the links ----------------------------------------------------------------------------------


def test_every_attempt_gets_a_fresh_link(world: Sending, admission: Admission) -> None:
    world.xms.on_send(Transient("sinch_503"), Accepted("batch-1"))
    world.xms.on_find(NotFound())  # the second attempt asks first whether Sinch has it
    record = world.sender.submit(
        admission.admit(mms(mediaUrl="https://media.example/a.jpg"), TENANT), CALLBACK, TENANT
    ).message
    world.sender.attempt(record.id)

    urls = [m.content.media_url for m in world.xms.sent if isinstance(m.content, XmsMediaContent)]
    assert len(world.media.links) == 2 and len(urls) == 2
    assert [sinch_gets(world, u) for u in urls] == [("image/jpeg", JPEG)] * 2


# --- a scheduled MMS waits here, and gets its links when due --------------------------------------


def held(world: Sending, admission: Admission, ahead: timedelta) -> tuple[str, datetime]:
    send_at = utcnow() + ahead
    draft = admission.admit(mms(mediaUrl="https://media.example/a.jpg", sendAt=send_at.isoformat()), TENANT)
    return world.sender.submit(draft, CALLBACK, TENANT).message.id, draft.send_at or send_at


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def test_a_scheduled_mms_waits_in_the_gateway_with_no_link_made_and_nothing_sent(
    world: Sending, admission: Admission
) -> None:
    message_id, _ = held(world, admission, timedelta(days=2))

    assert world.xms.calls == [] and world.media.links == []
    stored = world.store.get(message_id)
    assert stored is not None and stored.status is Status.ACCEPTED
    assert stored.attempts == 0 and not world.store.held(message_id), "nobody holds it: the queue does"
    [(queued_id, delay)] = world.queue.retries
    assert queued_id == message_id and 2 * DAY - 60 <= delay <= 2 * DAY


def test_when_due_it_goes_to_sinch_with_a_link_made_then_for_the_fetch_window_only(
    world: Sending, admission: Admission, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id, send_at = held(world, admission, timedelta(days=2))
    world.xms.on_send(Accepted("batch-1"))
    monkeypatch.setattr(sending, "utcnow", at(send_at + timedelta(seconds=1)))

    world.sender.attempt(message_id)

    [sent] = world.xms.sent
    assert world.xms.called("find") == [], "its first attempt: nothing to look up at Sinch"
    assert sent.send_at == send_at and isinstance(sent.content, XmsMediaContent)
    assert sinch_gets(world, sent.content.media_url) == ("image/jpeg", JPEG)
    assert world.media.links == [(world.media.links[0][0], int(world.settings.media_fetch_window_s))]
    stored = world.store.get(message_id)
    assert stored is not None and stored.status is Status.SUBMITTED and stored.attempts == 1


def test_an_attempt_before_it_is_due_sends_nothing_and_puts_it_back(
    world: Sending, admission: Admission, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id, send_at = held(world, admission, timedelta(hours=5))
    monkeypatch.setattr(sending, "utcnow", at(send_at - timedelta(hours=1)))

    world.sender.attempt(message_id)  # a request delivered twice, say

    assert world.xms.calls == [] and world.media.links == []
    assert [round(delay) for _, delay in world.queue.retries][1:] == [3600]
    stored = world.store.get(message_id)
    assert stored is not None and stored.status is Status.ACCEPTED


def test_a_held_mms_is_cancelled_here_and_never_reaches_sinch(
    world: Sending, admission: Admission, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id, send_at = held(world, admission, timedelta(hours=5))

    assert world.sender.cancel(TENANT, message_id).status is Status.CANCELLED
    monkeypatch.setattr(sending, "utcnow", at(send_at + timedelta(seconds=1)))
    world.sender.attempt(message_id)  # its turn on the queue comes all the same

    assert world.xms.calls == []


def test_a_stop_that_came_while_it_waited_keeps_it_from_sinch(
    world: Sending, admission: Admission, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id, send_at = held(world, admission, timedelta(hours=5))
    world.opt_outs.set("+12025550143", SENDER_NUMBER, opted_out=True)  # STOP, an hour later
    monkeypatch.setattr(sending, "utcnow", at(send_at + timedelta(seconds=1)))

    world.sender.attempt(message_id)

    assert world.xms.calls == [] and world.media.links == []
    stored = world.store.get(message_id)
    assert stored is not None and stored.status is Status.REJECTED
    assert stored.error_code == "recipient_opted_out" and "STOP" in (stored.error_text or "")


def test_a_send_that_goes_at_once_reads_no_opt_out_again(world: Sending, admission: Admission) -> None:
    world.xms.on_send(Accepted("batch-1"))
    draft = admission.admit(mms(mediaUrl="https://media.example/a.jpg"), TENANT)

    world.sender.submit(draft, CALLBACK, TENANT)

    assert world.opt_outs.reads == 0, "its admission read it a moment ago"
    assert len(world.xms.sent) == 1


def test_an_mms_due_within_a_minute_goes_to_sinch_at_once_scheduled_there(
    world: Sending, admission: Admission
) -> None:
    world.xms.on_send(Accepted("batch-1"))
    _, send_at = held(world, admission, timedelta(seconds=50))

    [sent] = world.xms.sent
    assert sent.send_at == send_at and world.queue.retries == []
    [(_, lifetime)] = world.media.links
    window = int(world.settings.media_fetch_window_s)
    assert window <= lifetime <= window + 50


def test_a_scheduled_sms_is_not_held_it_has_no_link_to_outlive(world: Sending) -> None:
    world.xms.on_send(Accepted("batch-1"))
    draft = MessageDraft(
        to="+12025550143", content=SmsContent(text="hi"), send_at=utcnow() + timedelta(days=2)
    )

    world.sender.submit(draft, CALLBACK, TENANT)

    assert len(world.xms.sent) == 1 and world.queue.retries == []


@pytest.mark.parametrize(
    ("ahead_s", "expected"),
    [
        (None, 3600),
        (-600, 3600),  # due already: from now
        (2 * DAY, 2 * DAY + 3600),
        (7 * DAY, MAX_LINK_S),  # S3 refuses more than 7 days
    ],
)
def test_link_lifetime(ahead_s: int | None, expected: int) -> None:
    now = datetime(2026, 5, 1, 10, tzinfo=UTC)
    send_at = None if ahead_s is None else now + timedelta(seconds=ahead_s)
    assert link_lifetime_s(send_at, now, 3600) == expected


class TemplateSaver:
    """Sinch's savemms: records the slides it was given."""

    def __init__(self) -> None:
        self.slides: list[tuple[Slide, ...]] = []

    def save_template(
        self, template_id: str, name: str, subject: str, slides: tuple[Slide, ...], fallback_text: str | None
    ) -> SendOutcome:
        self.slides.append(slides)
        return Accepted("tracking-1")


def test_a_template_is_saved_with_links_to_its_kept_media(world: Sending, admission: Admission) -> None:
    saver = TemplateSaver()
    templates = Templates(FakeTemplateStore(), saver, admission, media=world.media, link_s=DAY)
    request = TemplateRequest.model_validate(
        {"name": "spring", "subject": "Sale", "slides": [{"mediaUrl": "https://media.example/a.jpg"}]}
    )
    saved = templates.create(TENANT, request.command())
    assert saved.slides[0].media[0].url == "https://media.example/a.jpg"  # the caller's, stored
    [[given]] = [[m.url for s in slides for m in s.media] for slides in saver.slides]
    assert sinch_gets(world, given) == ("image/jpeg", JPEG)
    assert [lifetime for _, lifetime in world.media.links] == [DAY]


# --- the stack's settings agree -----------------------------------------------------------------


def test_kept_media_outlives_every_link_the_template_lets_the_functions_make() -> None:
    """The lifecycle rule must not delete a copy a link may still be fetched through: the furthest
    sendAt plus the fetch window plus every retry's wait fits in MediaRetentionDays, and a link
    fits in S3's 7 days."""
    template = Template(Path(__file__).parents[2] / "template.yaml")
    parameters = template.raw["Parameters"]
    retention_s = int(parameters["MediaRetentionDays"]["Default"]) * DAY
    window_s = int(parameters["MediaFetchWindowSeconds"]["Default"])
    retries_s = int(parameters["MaxSendAttempts"]["Default"]) * int(
        parameters["RetryMaxDelaySeconds"]["Default"]
    )
    furthest_s = MAX_SCHEDULE_AHEAD.total_seconds()
    assert furthest_s + window_s + retries_s <= retention_s
    assert furthest_s + window_s <= MAX_LINK_S
    [rule] = template.properties("MediaBucket")["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "MediaRetentionDays"}
    assert SlideMedia(url="u", content_type="image/png").key is None  # the field older records lack
