"""SendFunction: the public messages API under /v1, /health, and the web composer at /."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from sinch_gateway import config, wiring
from sinch_gateway.api import listing, pages
from sinch_gateway.api import problems as api_problems
from sinch_gateway.api.models import (
    PRINTABLE_ASCII,
    BatchAcceptedView,
    BatchRequest,
    BatchView,
    DryRunResult,
    Health,
    InboundPage,
    ListedRecipient,
    ListedTime,
    MessageAccepted,
    MessagePage,
    MessageView,
    SendMessageRequest,
    TemplateRequest,
    TemplateView,
    message_view,
    template_view,
)
from sinch_gateway.domain.errors import MessageNotFound, NoTenant
from sinch_gateway.domain.status import Status
from sinch_gateway.domain.webhooks import delivery_report_url
from sinch_gateway.telemetry import logger, metrics, tracer

services = wiring.SendServices(config.load(config.SendSettings))
app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=api_problems.json_body)


@lru_cache(maxsize=1)
def describe_api() -> None:
    """The document's metadata, set when a document is first asked for: the OpenAPI models it
    needs take ~0.4 s to import, which every cold start would pay otherwise."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server

    app.configure_openapi(
        title="Sinch messaging gateway",
        version="1.0.0",
        description="Send SMS and MMS through Sinch and follow each message to a final delivery status. "
        "Errors are application/problem+json (RFC 9457).",
        security_schemes={"apiKey": APIKey(name="x-api-key", in_=APIKeyIn.header)},
        security=[{"apiKey": []}],
        # Relative to the document (/{stage}/v1/openapi.json, or /v1/docs for Swagger UI): "Try it
        # out" keeps the stage in the path, where "/" would drop it.
        servers=[Server(url="..", description="this API, where its document is served")],
    )


api_problems.register(app)


def current_tenant() -> str:
    """The caller's tenant: the id of the API key API Gateway checked, or, for a tenant's second
    key (made to rotate its key), the tenant that key acts as."""
    key_id = app.current_event.request_context.identity.api_key_id
    if not key_id:  # every /v1 route requires a key: only a misconfigured route gets here
        raise NoTenant("This route needs an x-api-key.")
    tenant = services.tenants.get(key_id)
    return tenant.tenant_id if tenant is not None else key_id


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=PRINTABLE_ASCII,
        description="Same key and body within 24 h: the first answer again, and nothing sent twice",
    ),
]
DryRunFlag = Annotated[
    bool,
    Header(alias="X-Dry-Run", description="true: show what Sinch would send, send nothing, record nothing"),
]


@app.post(
    "/v1/messages",
    summary="Send an SMS or MMS",
    responses=api_problems.documented(
        {202: ("Accepted", MessageAccepted), 200: ("Dry run: what would be sent", DryRunResult)},
        400,
        409,
        413,
        415,
        502,
        503,
    ),
)
@tracer.capture_method
def send_message(
    message: SendMessageRequest, idempotency_key: IdempotencyKey = None, dry_run: DryRunFlag = False
) -> Response[Any]:
    tenant_id = current_tenant()
    endpoint = services.messages
    if dry_run:
        return Response(200, "application/json", endpoint.dry_run(message, tenant_id).model_dump_json())
    if idempotency_key is None:
        return endpoint.answer(message, report_url(), tenant_id).response()
    return endpoint.answer_once(
        idempotency_key, tenant_id, message, report_url(), app.lambda_context
    ).response()


def report_url() -> str:
    """Where Sinch is to send its delivery reports on what this request sends."""
    request_context = app.current_event.request_context
    return delivery_report_url(
        services.settings.public_base_url, request_context.domain_name, request_context.stage
    )


@app.post(
    "/v1/batches",
    summary="Send one message to many recipients (1 to 10,000), each a message of its own",
    description="Each recipient that cannot be sent to is listed in `refused` with why; the rest "
    "still go. When every one is refused: a 422 listing them, and nothing is recorded or sent.",
    responses=api_problems.documented({202: ("Accepted", BatchAcceptedView)}, 400, 409, 413, 415),
)
@tracer.capture_method
def send_batch(batch: BatchRequest, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    tenant_id = current_tenant()
    if idempotency_key is None:
        return services.batches.answer(batch, report_url(), tenant_id).response()
    return services.batches.answer_once(
        idempotency_key, tenant_id, batch, report_url(), app.lambda_context
    ).response()


BatchId = Annotated[
    str | None, Query(alias="batchId", min_length=1, max_length=64, description="Only this batch's messages")
]


@app.get(
    "/v1/batches/<id>",
    summary="A batch: its status and its recipients counted per message status",
    responses=api_problems.documented({200: ("The batch", BatchView)}, 404),
)
@tracer.capture_method
def get_batch(id: str) -> BatchView:
    return services.batches.view(current_tenant(), id)


@app.delete(
    "/v1/batches/<id>",
    summary="Cancel a batch: every recipient not yet handed to Sinch ends cancelled",
    responses=api_problems.documented({200: ("The cancelled batch", BatchView)}, 404),
)
@tracer.capture_method
def cancel_batch(id: str) -> BatchView:
    return services.batches.cancel(current_tenant(), id)


@app.get(
    "/v1/batches/<id>/messages",
    summary="A batch's messages, newest first, a page at a time",
    responses=api_problems.documented({200: ("A page of the batch's messages", MessagePage)}, 400, 404),
)
@tracer.capture_method
def list_batch_messages(
    id: str,
    status: Annotated[Status | None, Query(description="Only messages in this status now")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[
        str | None, Query(alias="nextToken", description="The nextToken of the previous page")
    ] = None,
) -> MessagePage:
    which = listing.message_filter(None, status, None, None, None, batch_id=id)
    return services.batches.page_messages(current_tenant(), which, limit, next_token, unknown_is_empty=False)


@app.get(
    "/v1/messages",
    summary="Your messages, newest first, a page at a time, filtered by any of these together",
    description="A page reads at most `limit` messages: with filters it may hold fewer, none even, "
    "and still have a nextToken; follow nextToken until it is null. In a URL, write the + of a "
    "number or a time zone as %2B.",
    responses=api_problems.documented({200: ("A page of messages", MessagePage)}, 400),
)
@tracer.capture_method
def list_messages(
    *,
    client_reference: Annotated[
        str | None, Query(alias="clientReference", min_length=1, max_length=128)
    ] = None,
    status: Annotated[Status | None, Query(description="Only messages in this status now")] = None,
    to: Annotated[ListedRecipient, Query(description="Only messages to this number, E.164")] = None,
    since: Annotated[ListedTime, Query(description="Created at or after (RFC 3339 with a time zone)")] = None,
    until: Annotated[ListedTime, Query(description="Created before (RFC 3339 with a time zone)")] = None,
    batch_id: BatchId = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    # Checked by listing.decode_token, so that every bad token is the same 400.
    next_token: Annotated[
        str | None, Query(alias="nextToken", description="The nextToken of the previous page")
    ] = None,
) -> MessagePage:
    which = listing.message_filter(client_reference, status, to, since, until, batch_id=batch_id)
    if batch_id is not None:
        return services.batches.page_messages(
            current_tenant(), which, limit, next_token, unknown_is_empty=True
        )
    return listing.page_messages(services.repository, current_tenant(), which, limit, next_token)


@app.get(
    "/v1/inbound",
    summary="SMS and MMS that handsets sent in answer to your messages (STOP, START, replies), newest first",
    responses=api_problems.documented({200: ("A page of inbound messages", InboundPage)}, 400),
)
@tracer.capture_method
def list_inbound(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[
        str | None, Query(alias="nextToken", description="The nextToken of the previous page")
    ] = None,
) -> InboundPage:
    return listing.page_inbound(services.inbound, current_tenant(), limit, next_token)


@app.get(
    "/v1/messages/<id>",
    summary="A message and its status history",
    responses=api_problems.documented({200: ("The message", MessageView)}, 404),
)
@tracer.capture_method
def get_message(id: str) -> MessageView:  # the name is the path parameter's, as in template.yaml
    record = services.repository.get_for_tenant(current_tenant(), id)
    if record is None:
        raise MessageNotFound(f"No message with id {id}.")
    return message_view(record)


@app.delete(
    "/v1/messages/<id>",
    summary="Cancel a message that is not sent yet (scheduled with sendAt, or waiting to be retried)",
    responses=api_problems.documented({200: ("The cancelled message", MessageView)}, 404, 409, 502, 503),
)
@tracer.capture_method
def cancel_message(id: str) -> MessageView:
    return message_view(services.sender.cancel(current_tenant(), id))


@app.post(
    "/v1/mms-templates",
    summary="Save an MMS template (Sinch's MMS API): pending until Sinch has prepared it",
    responses=api_problems.documented({202: ("Saved, pending", TemplateView)}, 400, 413, 415, 502, 503),
)
@tracer.capture_method
def create_template(template: TemplateRequest) -> Response[str]:
    saved = services.mms_templates.create(current_tenant(), template.command())
    return Response(
        202,
        "application/json",
        template_view(saved).model_dump_json(),
        headers={"Location": f"/v1/mms-templates/{saved.id}"},
    )


@app.get(
    "/v1/mms-templates/<id>",
    summary="An MMS template and whether it is ready",
    responses=api_problems.documented({200: ("The template", TemplateView)}, 404),
)
@tracer.capture_method
def get_template(id: str) -> TemplateView:
    return template_view(services.mms_templates.get(current_tenant(), id))


@app.get("/v1/openapi.json", summary="This API's OpenAPI document", include_in_schema=False)
def openapi_document() -> Response[str]:
    describe_api()
    return Response(200, "application/json", app.get_openapi_json_schema())


@app.get("/v1/docs", summary="Swagger UI for this API", include_in_schema=False)
def api_docs() -> Response[str]:
    # Powertools' enable_swagger would import the OpenAPI models at start-up; built on demand here.
    describe_api()
    html, headers = pages.swagger_page(app.get_openapi_json_schema())
    return Response(200, "text/html; charset=utf-8", html, headers=headers)


@app.get(
    "/health",
    summary="Liveness (no API key needed)",
    security=[{}],
    responses=api_problems.documented({200: ("Alive", Health)}),
)
def health() -> Health:
    return Health()


# The web composer (functions/send/web/): a page that calls this API like any client. It needs no
# key to be served; it sends what the user types with the key the user types.
WEB_DIR = Path(__file__).parent / "web"
WEB_ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "segments.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# Scripts, styles and images from this origin only, none inline.
WEB_HEADERS = pages.page_headers(scripts="'self'", styles="'self'", images="'self'")


@lru_cache(maxsize=len(WEB_ASSETS) + 1)
def web_file(name: str) -> str:
    return (WEB_DIR / name).read_text(encoding="utf-8")


@app.get("/", summary="The web composer (no API key needed for the page)", include_in_schema=False)
def web_page() -> Response[str]:
    # The page's links are relative to its folder: https://.../prod must become https://.../prod/
    # (requestContext.path is the path as the browser sent it, stage or base path included).
    sent_path = app.current_event.raw_event.get("requestContext", {}).get("path") or "/"
    if not sent_path.endswith("/"):
        location = sent_path.rsplit("/", 1)[-1] + "/"
        return Response(302, "text/plain", "", headers={**WEB_HEADERS, "Location": location})
    return Response(200, "text/html; charset=utf-8", web_file("index.html"), headers=WEB_HEADERS)


@app.get("/web/<asset>", summary="The web composer's scripts and styles", include_in_schema=False)
def web_asset(asset: str) -> Response[str]:
    if asset not in WEB_ASSETS:
        path = app.current_event.path
        return api_problems.problem(404, "/problems/no-such-route", "Not Found", f"No route for GET {path}.")
    return Response(200, WEB_ASSETS[asset], web_file(asset), headers=WEB_HEADERS)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if (rejection := api_problems.reject_unreadable_body(event)) is not None:
        return rejection.proxy()
    return app.resolve(event, context)
