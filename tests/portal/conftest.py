"""A real customer portal for the tests: ``python -m xop.portal`` (uvicorn) in its own process on
a loopback port, over a fresh PostgreSQL database, sending its emails through the outbox to a
real SMTP server (aiosmtpd, :class:`xop.demo.peers.MailDrop`). Chromium comes from
``tests/browser/conftest.py``'s ``browser`` fixture."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from tests.browser.conftest import browser  # noqa: F401  (the shared Chromium fixture)
from tests.conftest import REPO, TEST_CONFIG, create_pg_database, drop_pg_database

KEY = "portal-test-key-" + "k" * 24
CARL = "carl@acme.example"  # reporter of acme's tickets (a known contact once he reported one)
ANN = "ann.boss@acme.example"  # acme's management contact (config)
GINA = "gina@globex.example"  # globex's management contact (test config)
ARTIFACTS = REPO / "test-artifacts"


@dataclass
class PortalServer:
    url: str
    engine: sa.Engine
    cfg: object
    mail: object
    port: int

    def service(self):
        from xop.tickets.service import TicketService

        return TicketService(self.engine, self.cfg)

    def deliver(self) -> None:
        """Send what the outbox holds, through SMTP to the maildrop (as the sweep would)."""
        from xop.notify.delivery import deliver_pending
        from xop.notify.smtp import SmtpTransport

        deliver_pending(self.engine, smtp=SmtpTransport(), now=datetime.now(UTC))

    def wait_for_mail(self, to: str, subject_part: str, *, seen: int = 0, timeout: float = 30.0):
        """The newest message to ``to`` whose subject contains ``subject_part``, once more than
        ``seen`` such messages arrived (the portal sends in the background after answering)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                m for m in self.mail.messages if to in str(m["To"]) and subject_part in str(m["Subject"])
            ]
            if len(found) > seen:
                return found[-1]
            assert time.monotonic() < deadline, f"no email to {to} about {subject_part!r} arrived"
            time.sleep(0.1)

    def count_mail(self, to: str, subject_part: str) -> int:
        return len(
            [m for m in self.mail.messages if to in str(m["To"]) and subject_part in str(m["Subject"])]
        )

    def link_in(self, message, kind: str = "tickets") -> str:
        text = message.get_body(("plain",)).get_content()
        m = re.search(rf"{re.escape(self.url)}/{kind}/\S+", text)
        assert m, text
        return m.group(0)

    def open_ticket(self, customer="acme", reporter=CARL, name="Carl Caller", level=1, **kw):
        return self.service().open(
            customer=customer,
            subject=kw.pop("subject", "Bridge drops callers after 10 minutes"),
            description=kw.pop("description", "Every conference drops since 8 am."),
            reporter_name=name,
            reporter_email=reporter,
            level=level,
            now=kw.pop("now", datetime.now(UTC)),
            **kw,
        )


@pytest.fixture(scope="session")
def portal(tmp_path_factory) -> Iterator[PortalServer]:
    from xop.core.config import load_config
    from xop.db.engine import engine_from_url
    from xop.db.migrate import upgrade
    from xop.demo.peers import MailDrop, free_port
    from xop.portal.process import running_portal

    work = tmp_path_factory.mktemp("portal")
    port = free_port()
    customers = yaml.safe_load(Path(TEST_CONFIG).read_text())["customers"]
    for c in customers:  # globex gets a management contact here (the shared test config has none)
        if c["id"] == "globex":
            c["management_contacts"] = [{"name": "Gina Globex", "email": GINA}]
    config = work / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "extends": str(TEST_CONFIG),
                "support": {"ticket_url": f"http://127.0.0.1:{port}/tickets/{{number}}"},
                # Uploads go to a directory here (files 0600); small limits keep the tests quick.
                "intake": {
                    "attachments_dir": str(work / "attachments"),
                    "max_message_attachment_bytes": 2_000_000,
                },
                "portal": {
                    "customer_timezones": {"acme": "Asia/Kolkata"},
                    "per_address": {"count": 10, "minutes": 60},
                    "per_client": {"count": 60, "minutes": 60},
                },
                "customers": customers,
            }
        )
    )
    url = create_pg_database("xop_portal")
    engine = engine_from_url(url)
    upgrade(engine)
    mp = pytest.MonkeyPatch()
    with MailDrop(work / "mail") as mail:
        name = url.rsplit("/", 1)[1]
        mp.setenv("XOP_CONFIG", str(config))
        mp.setenv("XOP_PORTAL_KEY", KEY)
        mp.setenv("AIRFLOW_CONN_SMTP_DEFAULT", mail.connection_uri())
        mp.setenv(
            "AIRFLOW_CONN_XOP_DB",
            json.dumps(
                {
                    "conn_type": "postgres",
                    "host": "127.0.0.1",
                    "port": 5432,
                    "login": "postgres",
                    "schema": name,
                }
            ),
        )
        from xop.connections.portal_keys import forget_keys

        forget_keys()
        try:
            with running_portal(port, log_path=work / "portal.log"):
                yield PortalServer(f"http://127.0.0.1:{port}", engine, load_config(config), mail, port)
        finally:
            mp.undo()
            forget_keys()
            engine.dispose()
            drop_pg_database(url)
            log = (work / "portal.log").read_text() if (work / "portal.log").exists() else ""
            if "Traceback" in log:
                print("portal log:\n" + log[-4000:])


class Visitor:
    """An HTTP client that keeps the portal's cookies itself: ``http.cookiejar`` (httpx) never
    sends a ``Secure`` cookie over plain http, while browsers do on the loopback address."""

    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            self.set_cookie_headers.append(header)
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value or morsel.value == '""':
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response

    def _headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def get(self, path: str, **kw) -> httpx.Response:
        return self._keep(self.client.get(path, headers=self._headers(), **kw))

    def post(self, path: str, data: dict, **kw) -> httpx.Response:
        return self._keep(self.client.post(path, data=data, headers=self._headers(), **kw))

    def follow(self, response: httpx.Response) -> httpx.Response:
        while response.status_code in (301, 302, 303, 307):
            response = self.get(response.headers["location"])
        return response

    def close(self) -> None:
        self.client.close()


def csrf_of(html: str, form_id: str | None = None) -> str:
    part = html
    if form_id:
        start = html.index(f'id="{form_id}"') if f'id="{form_id}"' in html else html.index(form_id)
        part = html[html.rfind("<form", 0, start) :]
    m = re.search(r'name="csrf" value="([^"]+)"', part)
    assert m, "no CSRF token on the page"
    return m.group(1)


def main_text(html: str) -> str:
    """The visible text of the page's <main> (no tags, collapsed spaces)."""
    body = html[html.index("<main") : html.index("</main>")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()


@pytest.fixture
def visitor(portal) -> Iterator[Visitor]:
    v = Visitor(portal.url)
    yield v
    v.close()


def signed_in(portal: PortalServer, email: str, seen: int | None = None) -> Visitor:
    """A visitor signed in by email link (the whole flow over HTTP)."""
    v = Visitor(portal.url)
    before = portal.count_mail(email, "sign-in link") if seen is None else seen
    page = v.get("/")
    r = v.post("/signin", {"csrf": csrf_of(page.text), "email": email, "next": "/"})
    assert r.status_code == 200, r.text
    link = portal.link_in(portal.wait_for_mail(email, "sign-in link", seen=before), "signin")
    confirm = v.get(link.removeprefix(portal.url))
    assert confirm.status_code == 200, confirm.text
    r = v.post(link.removeprefix(portal.url), {"csrf": csrf_of(confirm.text)})
    assert r.status_code == 303, r.text
    return v


def screenshot(driver, name: str) -> None:
    """Screenshots at 360 px and 1280 px; at both widths nothing may stick out sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (360, 1280):
        driver.set_window_size(width, 900)
        overflow = driver.execute_script(
            "const d = document.documentElement; return d.scrollWidth - d.clientWidth"
        )
        assert overflow <= 0, f"{name} at {width} px is {overflow} px wider than the window"
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(height + 120, 600), 4000))
        driver.save_screenshot(str(ARTIFACTS / f"portal-{name}-{width}.png"))
    driver.set_window_size(1280, 900)
