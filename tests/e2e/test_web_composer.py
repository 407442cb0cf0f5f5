"""The web composer in headless chromium against the local stack: what a person sees after Send.

Each case saves a screenshot under test-output/web/<case>.png (gitignored); look at them.
"""

import dataclasses
import random
import re
import time
from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import Page, Route, expect
from pydantic import BaseModel

from sinch_gateway.api.models import FieldProblem, MessageAccepted, MessageView, Problem
from sinch_gateway.domain.segments import count_segments
from tests.e2e.conftest import Composer, LocalStack

TO = "+12025550143"
FINAL_WAIT_MS = 30_000


def expect_status(page: Page, word: str) -> None:
    """The status region reaches this status word (polling may take a few rounds)."""
    expect(page.get_by_role("status").locator(".status-word")).to_have_text(word, timeout=FINAL_WAIT_MS)


def described_by(page: Page, label: str) -> str:
    """The text of what the labelled field names in aria-describedby (hints and errors)."""
    ids = page.get_by_label(label, exact=True).get_attribute("aria-describedby") or ""
    shown = [page.locator(f"#{i}") for i in ids.split()]
    return " ".join(element.inner_text() for element in shown if element.is_visible())


def test_an_sms_reaches_delivered(composer: Composer, local: LocalStack) -> None:
    page = composer.open()
    composer.fill(to=TO, text="Your order {1234} has shipped")
    expect(page.locator("#text-counter")).to_contain_text("GSM-7: 1 segment")

    page.get_by_role("button", name="Send").click()

    status = page.get_by_role("status")
    expect_status(page, "delivered")
    (sent,) = local.sinch_requests()
    message_id = sent["body"]["client_reference"]
    expect(status).to_contain_text(message_id)
    assert sent["body"]["body"] == "Your order {1234} has shipped"
    assert sent["body"]["to"] == [TO]
    # Every event the API has, in its order, each with its time.
    final = local.wait_final(message_id)
    events = status.locator("#events li")
    expect(events.locator(".event-status")).to_have_text([e["status"] for e in final["events"]])
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in events.locator("time").all_inner_texts())
    # Sinch's codes are said in words (a bare "code 401" on the way read like a refused key).
    expect(events.last).to_contain_text("code 0: Delivered to the phone.")
    expect(page.locator("#status-reason")).to_be_hidden()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    composer.screenshot("sms-delivered")
    assert composer.console_errors() == []


def test_an_mms_reaches_delivered(composer: Composer, local: LocalStack) -> None:
    page = composer.open()
    expect(page.get_by_label("Subject")).to_be_hidden()  # an MMS field, shown for an MMS
    media = f"{local.sinch_url}/_sim/media/sample.jpg"
    composer.fill(to=TO, text="Spring sale", Media_URL=media, Subject="Sale")
    expect(page.locator("#text-counter")).to_contain_text("MMS text: 11 of 5000")

    page.get_by_role("button", name="Send").click()

    expect_status(page, "delivered")
    expect(page.get_by_role("status")).to_contain_text("MMS")
    (sent,) = local.sinch_requests()
    assert sent["body"]["type"] == "mt_media"
    body = sent["body"]["body"]
    assert (body["message"], body["subject"]) == ("Spring sale", "Sale")
    assert body["url"].startswith(f"{local.config['aws_endpoint_url']}/{local.config['media_bucket']}/media/")
    composer.screenshot("mms-delivered")
    assert composer.console_errors() == []


def test_a_bad_number_shows_its_field_error_and_sends_nothing(composer: Composer, local: LocalStack) -> None:
    page = composer.open()
    composer.fill(to="+1 202 555", text="Hello")

    page.get_by_role("button", name="Send").click()

    to = page.get_by_label("To", exact=True)
    expect(to).to_have_attribute("aria-invalid", "true")
    # The server's own words for this field, as the API gives them.
    answer = local.api("POST", "/v1/messages", {"to": "+1 202 555", "text": "Hello"})
    ((field, said),) = [(e["field"], e["message"]) for e in answer.body["errors"]]
    assert (answer.status, field) == (422, "to")
    expect(page.locator("#to-error")).to_contain_text(said)
    assert said in described_by(page, "To")
    expect(to).to_be_focused()  # the first field to fix
    expect(page.get_by_role("status")).to_contain_text("Not sent")
    assert local.sim("GET", "/_sim/requests") == []

    # Fixed, it goes, and the old error goes away.
    to.fill(TO)
    page.get_by_role("button", name="Send").click()
    expect_status(page, "delivered")
    expect(page.locator("#to-error")).to_be_hidden()
    expect(to).not_to_have_attribute("aria-invalid", "true")
    assert len(local.sinch_requests()) == 1
    page.get_by_label("To", exact=True).fill("+1 202 555")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#to-error")).to_be_visible()
    composer.screenshot("bad-number")
    assert composer.console_errors(422) == []


def test_a_wrong_key_says_so_and_nothing_is_sent(composer: Composer, local: LocalStack) -> None:
    page = composer.open()
    composer.fill(key="not-a-key-of-ours", to=TO, text="Hello")

    page.get_by_role("button", name="Send").click()

    expect(page.get_by_role("status")).to_contain_text("The API key was not accepted")
    key = page.get_by_label("API key", exact=True)
    expect(key).to_have_attribute("aria-invalid", "true")
    assert "The API key was not accepted" in described_by(page, "API key")
    expect(key).to_be_focused()
    assert page.evaluate("sessionStorage.length") == 0  # a refused key is not kept
    assert local.sim("GET", "/_sim/requests") == []
    composer.screenshot("wrong-key")
    assert composer.console_errors(403) == []


def test_a_sinch_failure_shows_failed_and_its_reason(composer: Composer, local: LocalStack) -> None:
    local.sim("POST", "/_sim/faults", {"rules": [{"match": "callbacks", "final": "Failed"}]})
    page = composer.open()
    composer.fill(to=TO, text="Hello")

    page.get_by_role("button", name="Send").click()

    status = page.get_by_role("status")
    expect_status(page, "failed")
    (sent,) = local.sinch_requests()
    final = local.wait_final(sent["body"]["client_reference"])
    code = next(e["code"] for e in reversed(final["events"]) if e["status"] == "failed")
    reason = page.locator("#status-reason")
    expect(reason).to_be_visible()
    # In words, with Sinch's code: the simulator's Failed report carries 402 (unroutable).
    assert code == 402
    expect(reason).to_have_text(re.compile(r"^No route to this number: .+\. \(code 402\)$"))
    expect(status).to_contain_text("failed")
    composer.screenshot("sinch-failed")
    assert composer.console_errors() == []


def test_keyboard_only_send_with_a_visible_focus_ring(composer: Composer, local: LocalStack) -> None:
    page = composer.open()
    keyboard = page.keyboard

    def tab_to(element_id: str) -> None:
        for _ in range(15):
            if page.evaluate("document.activeElement.id") == element_id:
                return
            keyboard.press("Tab")
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("api-key")
    keyboard.type(local.config["api_key"])
    tab_to("to")
    keyboard.type(TO)
    tab_to("text")
    keyboard.type("Sent without a mouse")
    tab_to("send")
    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    assert ring[0] != "none" and ring[1] >= 2, ring
    composer.screenshot("keyboard-focus-on-send")
    keyboard.press("Enter")

    expect_status(page, "delivered")
    (sent,) = local.sinch_requests()
    assert sent["body"]["body"] == "Sent without a mouse"
    composer.screenshot("keyboard-delivered")
    assert composer.console_errors() == []


def test_the_page_works_under_a_stage_path(composer: Composer, local: LocalStack) -> None:
    """Deployed, the page is https://host/prod/: its files and its API calls stay under /prod/."""
    stage = local.api_url + "/prod"

    def strip_stage(route: Route) -> None:
        route.fulfill(response=route.fetch(url=local.api_url + route.request.url.removeprefix(stage)))

    composer.page.route(f"{stage}/**", strip_stage)
    page = composer.open(stage + "/")
    composer.fill(to=TO, text="From the stage")
    page.get_by_role("button", name="Send").click()

    expect_status(page, "delivered")
    assert composer.urls and all(url.startswith(stage + "/") for url in composer.urls), composer.urls
    assert any(url.startswith(f"{stage}/v1/messages/") for url in composer.urls)
    composer.screenshot("stage-path")
    assert composer.console_errors(api=stage + "/v1/messages") == []


def test_the_key_is_kept_for_the_tab_but_never_in_a_url_the_html_or_the_logs(
    composer: Composer, local: LocalStack
) -> None:
    key = local.config["api_key"]
    page = composer.open()
    composer.fill(to=TO, text="Hello")
    page.get_by_role("button", name="Send").click()
    expect_status(page, "delivered")
    page.reload()
    expect(page.get_by_label("API key", exact=True)).to_have_value(key)  # typed once per tab
    assert key not in page.content()
    assert not [url for url in composer.urls if key in url]
    # The local gateway's access log has the page's calls, and not the key they carried; nor
    # does any function's log. (The stack's banner prints the key for its user: not a log line.)
    lines = (local.state_dir / "stack.log").read_text().splitlines()
    log = "\n".join(line for line in lines if line.startswith("[api] "))
    assert '"resourcePath":"/v1/messages/{id}"' in log
    function_logs = [path.read_text() for path in (local.state_dir / "logs").glob("*.log")]
    assert function_logs
    assert [text for text in [log, *function_logs] if key in text] == []

    page.get_by_role("button", name="Forget key").click()
    expect(page.get_by_label("API key", exact=True)).to_have_value("")
    page.reload()
    expect(page.get_by_label("API key", exact=True)).to_have_value("")
    assert composer.console_errors() == []


def as_json(model: BaseModel) -> Any:
    """A model as the API sends it."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


HOSTILE = '<img src="data:," onerror="window.pwned = 1"><b>bold</b>'


def test_html_from_the_user_or_the_server_is_shown_as_text(composer: Composer, local: LocalStack) -> None:
    """A media URL and the server's words are text: whatever they hold never becomes markup.
    Each answer is held back to see Send disabled until it comes."""
    api = local.api_url + "/v1/messages"
    problems = [
        Problem(
            type="/problems/validation",
            title="Unprocessable Content",
            status=422,
            errors=[FieldProblem(field="mediaUrl", message=f"{HOSTILE} could not be fetched").model_dump()],
        ),
        Problem(type="/problems/internal", title=f"Broken {HOSTILE}", status=500, detail=HOSTILE),
    ]
    now = datetime.now(UTC)
    accepted = {"id": "m-1", "status": "accepted", "channel": "mms", "api": "xms", "to": TO, "createdAt": now}
    failed = MessageView.model_validate(
        {
            **accepted,
            "status": "failed",
            "attempts": 1,
            "error": {"code": HOSTILE, "text": HOSTILE},
            "events": [{"status": "failed", "at": now, "code": 414, "detail": HOSTILE}],
            "updatedAt": now,
        }
    )
    answers = [(p.status, as_json(p)) for p in problems]
    answers.append((202, as_json(MessageAccepted.model_validate(accepted))))

    held: list[Route] = []  # a POST waits here until the test answers it

    def fake_api(route: Route) -> None:
        if route.request.method == "POST":
            held.append(route)
        else:
            route.fulfill(status=200, json=as_json(failed))

    composer.page.route(f"{api}**", fake_api)
    page = composer.open()
    composer.fill(to=TO, text="Hi", Media_URL=f"https://example.com/{HOSTILE}")
    send = page.get_by_role("button", name="Send")

    def answer_the_send() -> None:
        send.click()
        # While the API has not answered: one send at a time, and the status region says so.
        expect(send).to_be_disabled()
        expect(page.get_by_role("status")).to_contain_text("Sending")
        status, body = answers.pop(0)
        # The route's handler runs while Playwright waits: the button can show the send before it.
        deadline = time.monotonic() + 10
        while not held and time.monotonic() < deadline:
            page.wait_for_timeout(20)
        held.pop().fulfill(status=status, json=body)
        expect(send).to_be_enabled()

    answer_the_send()
    expect(page.locator("#media-url-error")).to_contain_text(f"{HOSTILE} could not be fetched")
    answer_the_send()
    expect(page.get_by_role("status")).to_contain_text(f"Broken {HOSTILE}: {HOSTILE}")
    answer_the_send()
    expect_status(page, "failed")
    expect(page.locator("#status-reason")).to_contain_text(HOSTILE)
    expect(page.locator("#events")).to_contain_text(HOSTILE)

    assert page.locator("main img, main b").count() == 0
    assert page.evaluate("window.pwned") is None
    assert local.sim("GET", "/_sim/requests") == []
    composer.screenshot("hostile-text")
    assert composer.console_errors(422, 500) == []


# Texts at the edges of the server's rules: GSM-7 and its extension table, UCS-2, emoji (two
# UTF-16 units, never split), each around the single- and multi-segment limits.
SEGMENT_TEXTS = [
    "",
    "Hello",
    "a" * 160,
    "a" * 161,
    "a" * 306,
    "a" * 307,
    "€" * 80,
    "€" * 81,
    "a" * 152 + "{",
    "a" * 152 + "{" + "a" * 10,
    "Ünïcödé ä ö ü ñ à é ù",
    "Ça coûte 5 €",
    "Grüße",
    "你" * 70,
    "你" * 71,
    "你" * 134,
    "你" * 135,
    "😀" * 35,
    "😀" * 36,
    "a" * 66 + "😀" + "你",
    "line\nbreak\r\fform feed",
    "tab\tis not GSM",
    "[~]|^\\ ΔΦΓΛΩΠΨΣΘΞ ¡¿ §",
    "e\u0301 combining",
    "\u00a0no-break space",
]


def test_the_pages_segment_counter_agrees_with_the_server(composer: Composer, local: LocalStack) -> None:
    alphabet = "aZ0 @£{€}[~]^|\\ÄñΩ\nçÇ你😀é\u0301"
    rng = random.Random(10)
    texts = SEGMENT_TEXTS + ["".join(rng.choices(alphabet, k=rng.randint(60, 400))) for _ in range(200)]
    page = composer.open()
    counted = page.evaluate(
        "async ([url, texts]) => { const { countSegments } = await import(url);"
        " return texts.map((text) => countSegments(text)); }",
        [local.api_url + "/web/segments.js", texts],
    )
    expected = [dataclasses.asdict(count_segments(text)) for text in texts]
    assert [(t, c) for t, c, e in zip(texts, counted, expected, strict=True) if c != e] == []
    assert composer.console_errors() == []


def test_slides_go_through_the_mms_json_api(composer: Composer, local: LocalStack) -> None:
    page = composer.open()
    composer.fill(to=TO)
    page.get_by_text("Slides (rich MMS").click()
    add = page.get_by_role("button", name="Add slide")
    add.click()
    page.get_by_label("Slide 1 text", exact=True).fill("Spring is here")
    add.click()
    page.get_by_label("Slide 2 text", exact=True).fill("Half price")
    page.get_by_label("Slide 2 media link", exact=True).fill(f"{local.sinch_url}/_sim/media/sample.jpg")
    expect(page.get_by_label("Message", exact=True)).to_be_hidden()  # slides replace text and media
    page.get_by_label("Subject", exact=True).fill("Spring sale")
    page.get_by_label("Fallback SMS text", exact=True).fill("Our spring sale is on")

    page.get_by_role("button", name="Send").click()

    status = page.get_by_role("status")
    expect(status).to_contain_text("MMS through Sinch's MMS JSON API")
    (request,) = [r for r in local.sim("GET", "/_sim/requests") if r["path"].startswith("/ep/v2")]
    body = request["body"]
    expect(status).to_contain_text(body["client-reference"])
    assert (body["message-subject"], body["fallback-sms-text"]) == ("Spring sale", "Our spring sale is on")
    assert [(s.get("message-text"), sorted(s)) for s in body["slide"]] == [
        ("Spring is here", ["message-text"]),
        ("Half price", ["image", "message-text"]),
    ]
    expect_status(page, "delivered")
    composer.screenshot("slides-delivered")
    assert composer.console_errors() == []


# --- Swagger UI (/v1/docs) ------------------------------------------------------------------------


def test_swagger_ui_keeps_the_key_in_memory_only_and_works_under_its_policy(
    composer: Composer, local: LocalStack
) -> None:
    key = local.config["api_key"]
    page = composer.open(local.api_url + "/v1/docs")
    page.get_by_role("button", name="Authorize").first.click()
    page.get_by_label("Value:").fill(key)
    page.get_by_role("button", name="Apply credentials").click()
    page.get_by_role("button", name="Close", exact=True).click()
    # Try it out: GET /v1/messages/{id} with the key goes past API Gateway (a 404, not its 403).
    page.locator("#operations-default-get_message_v1_messages__id__get").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_placeholder("id").fill("3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b")
    with page.expect_response(lambda r: "/v1/messages/" in r.url) as answered:
        page.get_by_role("button", name="Execute").click()
    assert answered.value.status == 404
    composer.screenshot("swagger-ui")

    stored = page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert key not in stored, stored
    assert not [url for url in composer.urls if key in url]
    page.reload()
    assert key not in page.evaluate("() => JSON.stringify(Object.entries(localStorage))")
    # Nothing the policy refused (a refused script or style is a console error), nothing else failed.
    api = local.api_url + "/v1/messages/3f1c2a8e-5b7d-4c9e-8a6f-2d4b1e0c9a7b"
    assert composer.console_errors(404, api=api) == []


def test_swagger_ui_cannot_be_framed(composer: Composer, local: LocalStack) -> None:
    page = composer.page
    page.set_content(f'<iframe src="{local.api_url}/v1/docs" width="800" height="600"></iframe>')
    frame = page.frames[1]
    frame.wait_for_load_state()
    assert frame.locator("#swagger-ui").count() == 0  # the browser refused to show it in a frame
