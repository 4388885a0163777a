"""The OPTIONS probe of a trunk: is its SIP peer there and answering with an accepted code?"""

from __future__ import annotations

import asyncio
from datetime import datetime

from xop.core.specs.trunks import TrunkSpec
from xop.trunks.channel import Channel, describe_transport_error, open_channel
from xop.trunks.dialog import (
    Dialog,
    answer_stray_request,
    challenge_header,
    ms,
    reason_for_final,
    transaction,
)
from xop.trunks.result import TrunkCheckResult
from xop.trunks.sipmsg import SipParseError, digest_authorization
from xop.trunks.target import DigestCredentials


async def probe_options(
    trunk: TrunkSpec,
    *,
    system: str,
    checked_at: datetime,
    credentials: DigestCredentials | None = None,
) -> TrunkCheckResult:
    """Send OPTIONS; up when a final code in ``trunk.accepted_codes`` arrives within the timeout.

    When the peer challenges the OPTIONS (401/407) and we have credentials, the reported round trip
    is that of the authenticated request: the challenge is usually answered by a proxy or policy
    layer in front of the peer and says nothing about the path the call takes.
    """
    loop = asyncio.get_running_loop()
    result = TrunkCheckResult(trunk.id, system, "options", False, checked_at, target=trunk.target)
    deadline = loop.time() + trunk.options_timeout_s
    channel: Channel | None = None
    try:
        channel = await open_channel(trunk, deadline)
        channel.on_request = answer_stray_request(channel)
        dialog = Dialog(trunk, channel, trunk.dial_number or "ping")
        extra = [("Accept", "application/sdp")]
        data, branch, _ = dialog.request("OPTIONS", extra=extra)
        started = loop.time()
        response = await transaction(channel, data, branch=branch, method="OPTIONS", deadline=deadline)
        rtt_ms = ms(loop.time() - started)
        challenge = challenge_header(response)
        if response.status not in trunk.accepted_codes and challenge and credentials is not None:
            header, value = challenge
            auth = digest_authorization(
                value,
                method="OPTIONS",
                uri=dialog.remote_uri,
                username=credentials.username,
                password=credentials.password,
            )
            data, branch, _ = dialog.request("OPTIONS", extra=[*extra, (header, auth)])
            started = loop.time()
            response = await transaction(channel, data, branch=branch, method="OPTIONS", deadline=deadline)
            rtt_ms = ms(loop.time() - started)
        ok = response.status in trunk.accepted_codes
        error = None if ok else reason_for_final(response.status, response.reason)
        if response.status == 408 and not ok:
            error = f"timeout ({response.status} {response.reason})"
        return result.with_(ok=ok, sip_code=response.status, rtt_ms=rtt_ms, error=error)
    except TimeoutError:
        return result.with_(error=f"timeout: no response in {trunk.options_timeout_s:g} s")
    except (OSError, SipParseError) as exc:
        return result.with_(error=describe_transport_error(exc, trunk.transport))
    except ValueError as exc:  # an unusable digest challenge
        return result.with_(error=f"authentication failed: {exc}")
    finally:
        if channel is not None:
            channel.close()


__all__ = ["probe_options"]
