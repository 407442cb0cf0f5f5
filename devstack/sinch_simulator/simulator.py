"""SinchSimulator: wires the parts together and runs them on 127.0.0.1."""

from __future__ import annotations

import threading
from types import TracebackType

import urllib3

from .callbacks import CallbackSender, xms_policy
from .config import SimConfig
from .control import Control
from .delivery import Delivery
from .faults import FaultSet
from .inbound import InboundSender
from .media import MediaFetcher, ServedMedia
from .mms import MmsApi
from .mms_store import MmsStore
from .oauth import ProjectCredentials, TokenIssuer
from .postbacks import MmsDelivery, mms_policy
from .ratelimit import RateLimiter
from .recorder import Log
from .scheduler import Scheduler
from .server import Services, SimServer
from .store import BatchStore
from .xms import XmsApi


class SinchSimulator:
    """A local stand-in for Sinch's XMS REST API and MMS JSON API, with delivery callbacks,
    postbacks and fault injection.

    With `project_id`, `key_id` and `key_secret` it also does project (OAuth2) authentication:
    `POST /oauth2/token` issues bearer tokens that XMS accepts under `/xms/v1/{project_id}`.

    With `source_address`, its own requests (callbacks, postbacks, inbound MOs, media fetches) come
    from that address, as Sinch's come from its own: 127.0.0.2 on a machine where 127.0.0.1 is the
    tests', so the gateway's per-address limits and allowlists can tell the two apart.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        service_plan_id: str = "local-plan",
        api_token: str = "tok",  # noqa: S107 (a local placeholder; the real token lives in the secret)
        webhook_secret: str | None = None,
        callback_delay_s: float = 0.2,
        callback_retry_base_s: float = 0.05,
        rate_limit: float | None = None,
        media_max_bytes: int = 1_048_576,
        project_id: str | None = None,
        key_id: str | None = None,
        key_secret: str | None = None,
        token_ttl_s: float = 3600,
        mms_api_key: str = "mms-key",
        mms_service_id: str = "local-service",
        postback_url: str | None = None,
        inbound_url: str | None = None,
        encoding_delay_s: float = 0.5,
        source_address: str | None = None,
    ) -> None:
        project = (project_id, key_id, key_secret)
        if any(v is not None for v in project) and not all(project):
            raise ValueError("project authentication needs project_id, key_id and key_secret, all non-empty")
        if project_id is not None and project_id == service_plan_id:
            raise ValueError("project_id and service_plan_id must differ (both name the XMS path)")
        if not token_ttl_s > 0:
            raise ValueError("token_ttl_s must be positive")
        self._address = (host, port)
        self.source_address = source_address
        self.config = config = SimConfig(
            service_plan_id=service_plan_id,
            api_token=api_token,
            webhook_secret=webhook_secret,
            callback_delay_s=callback_delay_s,
            callback_retry_base_s=callback_retry_base_s,
            rate_limit=rate_limit,
            media_max_bytes=media_max_bytes,
            project_id=project_id,
            token_ttl_s=token_ttl_s,
            mms_api_key=mms_api_key,
            mms_service_id=mms_service_id,
        )
        # Checked like a /_sim/config change: a bad value is a ValueError here too.
        config.update(
            {"postback_url": postback_url, "inbound_url": inbound_url, "encoding_delay_s": encoding_delay_s}
        )
        # Issued tokens live as long as the simulator: reset() keeps them, so it logs no client out.
        self.tokens: TokenIssuer | None = None
        if project_id and key_id and key_secret:
            credentials = ProjectCredentials(project_id, key_id, key_secret)
            self.tokens = TokenIssuer(credentials, lambda: config.token_ttl_s)
        self.requests = Log()
        self.callbacks = Log()
        self.media_fetches = Log()
        self.served_media = ServedMedia()
        self.faults = FaultSet()
        self.store = BatchStore()
        self.mms = MmsStore()
        self._limiter = RateLimiter()
        self._scheduler: Scheduler | None = None
        self._http: urllib3.PoolManager | None = None
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SinchSimulator:
        """Listen and serve in a daemon thread; returns once the socket accepts connections."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        config = self.config
        self._scheduler = scheduler = Scheduler()
        source = (self.source_address, 0) if self.source_address else None
        # One connection per scheduler worker.
        self._http = urllib3.PoolManager(num_pools=20, maxsize=16, source_address=source)
        sender = CallbackSender(
            scheduler,
            self._http,
            self.callbacks,
            xms_policy(lambda: config.callback_retry_base_s, lambda: config.webhook_secret),
        )
        media = MediaFetcher(self._http, self.media_fetches)
        delivery = Delivery(
            store=self.store,
            scheduler_call_later=scheduler.call_later,
            callbacks=sender,
            faults=self.faults,
            media=media,
            delay_s=lambda: config.callback_delay_s,
            media_max_bytes=lambda: config.media_max_bytes,
        )
        mms_delivery = MmsDelivery(
            store=self.mms,
            scheduler_call_later=scheduler.call_later,
            sender=CallbackSender(
                scheduler, self._http, self.callbacks, mms_policy(lambda: config.callback_retry_base_s)
            ),
            faults=self.faults,
            postback_url=lambda: config.postback_url,
            delay_s=lambda: config.callback_delay_s,
            encoding_delay_s=lambda: config.encoding_delay_s,
        )
        services = Services(
            xms=XmsApi(config, self.store, delivery, self._limiter, self.tokens),
            mms=MmsApi(
                config=config,
                store=self.mms,
                delivery=mms_delivery,
                media=media,
                faults=self.faults,
                limiter=self._limiter,
            ),
            control=Control(
                config,
                self.requests,
                self.callbacks,
                self.faults,
                mms=self.mms,
                inbound=InboundSender(self.store, sender, lambda: config.inbound_url),
                media_fetches=self.media_fetches,
                reset=self.reset,
            ),
            requests=self.requests,
            faults=self.faults,
            config=config,
            tokens=self.tokens,
            served_media=self.served_media,
        )
        self._server = SimServer(self._address, services)  # bound and listening from here
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sinch-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset(self) -> None:
        """Forget requests, callbacks, media fetches, batches, MMS templates, handsets, faults and
        which media was served; pending deliveries, postbacks and retries are dropped.

        Issued OAuth2 tokens stay valid (and settings stay as they are), so a running client is
        not logged out by a test's reset.
        """
        if self._scheduler is not None:
            self._scheduler.clear()
        parts = (self.requests, self.callbacks, self.store, self.mms, self.faults, self._limiter)
        for part in (*parts, self.media_fetches, self.served_media):
            part.clear()

    def stop(self) -> None:
        """Stop serving, close open connections, and drop pending deliveries and callbacks."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        if self._http is not None:
            self._http.clear()
            self._http = None

    def __enter__(self) -> SinchSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
