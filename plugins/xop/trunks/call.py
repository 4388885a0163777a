"""A real call through a trunk: INVITE → (digest) → 18x → 200 → ACK → RTP both ways → BYE.

:func:`place_call_async` is the one implementation; :func:`place_call` runs it from synchronous
code (an Airflow task). The trunk check's test call (:func:`place_test_call`) and the emergency
call are both built on it. Media is G.711 paced at 20 ms; by default the trunk check's own test
signal (:mod:`xop.trunks.testsignal`), or the caller's ``audio``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from xop.trunks.channel import Channel, describe_transport_error, open_channel
from xop.trunks.dialog import (
    CheckFailed,
    Dialog,
    ack_failure,
    cancel,
    challenge_header,
    in_call_answerer,
    ms,
    reack_200,
    reason_for_final,
    transaction,
)
from xop.trunks.g711 import PCMA, PCMU
from xop.trunks.media import (
    RtpPacket,
    RtpSocket,
    SentStream,
    frames_of,
    parse_sdp_answer,
    sdp_offer,
    send_media,
)
from xop.trunks.sipmsg import SipMessage, SipParseError, digest_authorization, uri_of
from xop.trunks.target import DigestCredentials, SipTarget
from xop.trunks.testsignal import sweep_audio

log = logging.getLogger(__name__)

RTP_GRACE = 0.3  # wait for the last echoes after the last packet (s)
BYE_TIMEOUT = 5.0
NO_AUDIO_STREAM = "no media: the answer has no usable audio stream"


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What happened on one call. ``error`` is None only for an answered call with an audio stream.

    ``sip_code``/``reason`` are the final response (or the last provisional one on no answer);
    ``answered_at`` is UTC wall time of the 200; ``duration_s`` runs from the 200 to our BYE (or the
    far end's). ``received`` is the payload that came back, in sequence order, when asked for;
    ``sent``/``packets`` keep the RTP of both directions for the quality figures.
    """

    answered: bool
    sip_code: int | None = None
    reason: str = ""
    answered_at: datetime | None = None
    duration_s: float = 0.0
    rtp_sent: int = 0
    rtp_received: int = 0
    received: bytes | None = None
    error: str | None = None
    pdd_ms: float | None = None
    setup_ms: float | None = None
    payload_type: int | None = None
    remote_hangup: bool = False
    sent: SentStream | None = field(default=None, repr=False)
    packets: tuple[RtpPacket, ...] = field(default=(), repr=False)


def _in_sequence_order(packets: tuple[RtpPacket, ...]) -> bytes:
    """Payloads ordered by extended sequence number, duplicates dropped (RFC 3550 A.1 unwrapping)."""
    if not packets:
        return b""
    seen: dict[int, bytes] = {}
    cycles, previous = 0, packets[0].sequence
    for packet in packets:
        delta = (packet.sequence - previous) & 0xFFFF
        if delta < 0x8000:  # forward (possibly wrapped)
            if packet.sequence < previous:
                cycles += 0x10000
            previous = packet.sequence
            extended = cycles + packet.sequence
        else:  # an older packet, arriving late
            extended = cycles + packet.sequence - (0x10000 if packet.sequence > previous else 0)
        seen.setdefault(extended, packet.payload)
    return b"".join(seen[key] for key in sorted(seen))


async def place_call_async(
    target: SipTarget,
    credentials: DigestCredentials | None,
    *,
    audio: bytes | None = None,
    payload_type: int = PCMU,
    record_received: bool = False,
    number: str | None = None,
    media_seconds: float | None = None,
    answer_timeout_s: float | None = None,
) -> CallOutcome:
    """Call ``number`` (default: the trunk's ``dial_number``) through ``target``'s trunk.

    ``audio`` is G.711 payload in ``payload_type`` (0 PCMU, 8 PCMA), 160 bytes per 20 ms packet,
    sent paced in real time; only that codec is offered. Without it the trunk check's test sweep
    of ``media_seconds`` (default the trunk's) is sent in the codec the far end picks. The call is
    hung up (BYE) after the audio and :data:`RTP_GRACE`; ``answer_timeout_s`` (default the trunk's
    ``call_timeout_s``) bounds INVITE to the final answer, after which the INVITE is cancelled.
    Never raises for network or SIP trouble: the outcome's ``error`` says what went wrong.
    """
    if payload_type not in (PCMU, PCMA):
        raise ValueError(f"payload_type must be 0 (PCMU) or 8 (PCMA), got {payload_type}")
    trunk = target.trunk
    number = number or trunk.dial_number
    if not number:
        raise ValueError(f"trunk {trunk.id!r}: no number to call (dial_number unset)")
    loop = asyncio.get_running_loop()
    timeout = answer_timeout_s if answer_timeout_s is not None else trunk.call_timeout_s
    seconds = trunk.media_seconds if media_seconds is None else media_seconds
    deadline = loop.time() + timeout
    offered = (payload_type,) if audio is not None else (payload_type, PCMA if payload_type == PCMU else PCMU)
    channel: Channel | None = None
    rtp: RtpSocket | None = None
    state: dict[str, object] = {"pdd_ms": None, "sip_code": None, "reason": ""}

    def failed(error: str) -> CallOutcome:
        return CallOutcome(
            False,
            state["sip_code"],
            str(state["reason"]),
            error=error,
            pdd_ms=state["pdd_ms"],  # type: ignore[arg-type]
        )

    try:
        channel = await open_channel(trunk, deadline)
        dialog = Dialog(trunk, channel, number)
        rtp = RtpSocket(dialog.local_host, channel.family)
        offer = sdp_offer(dialog.local_host, rtp.port, offered)
        remote_bye = asyncio.Event()
        channel.on_request = in_call_answerer(channel, remote_bye)
        started = loop.time()
        provisional: list[SipMessage] = []

        def on_provisional(message: SipMessage) -> None:
            provisional.append(message)
            state["sip_code"], state["reason"] = message.status, message.reason
            if 180 <= message.status < 190 and state["pdd_ms"] is None:
                state["pdd_ms"] = ms(loop.time() - started)

        sdp_header = [("Content-Type", "application/sdp"), ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")]
        extra: list[tuple[str, str]] = list(sdp_header)
        authenticated = False
        while True:
            data, branch, cseq = dialog.request("INVITE", extra=extra, body=offer)
            try:
                final = await transaction(
                    channel,
                    data,
                    branch=branch,
                    method="INVITE",
                    deadline=deadline,
                    on_provisional=on_provisional,
                )
            except TimeoutError:
                if provisional:
                    await cancel(channel, dialog, branch, cseq)
                    last = provisional[-1]
                    raise CheckFailed(
                        f"no answer: no final response in {timeout:g} s (last {last.status} {last.reason})",
                        last.status,
                    ) from None
                raise CheckFailed(f"timeout: no response to INVITE in {timeout:g} s") from None
            state["sip_code"], state["reason"] = final.status, final.reason
            if final.status >= 300:
                ack_failure(channel, dialog, final, branch, cseq)
                challenge = challenge_header(final)
                if challenge and credentials is not None and not authenticated:
                    header, value = challenge
                    auth = digest_authorization(
                        value,
                        method="INVITE",
                        uri=dialog.remote_uri,
                        username=credentials.username,
                        password=credentials.password,
                    )
                    extra = [*sdp_header, (header, auth)]
                    authenticated = True
                    continue
                if challenge and credentials is None:
                    raise CheckFailed(
                        f"authentication required ({final.status}) but the trunk has no conn_id", final.status
                    )
                raise CheckFailed(reason_for_final(final.status, final.reason), final.status)
            break

        answered = loop.time()
        answered_at = datetime.now(UTC)
        setup_ms = ms(answered - started)
        dialog.to_value = final.header("to") or dialog.to_value
        remote_target = uri_of(final.header("contact") or "") or dialog.remote_uri
        dialog.route = list(reversed(final.header_all("record-route")))
        ack, _, _ = dialog.request("ACK", uri=remote_target, cseq=cseq)
        channel.send(ack)

        media = parse_sdp_answer(final.body)
        sent: SentStream | None = None
        negotiated: int | None = None
        watcher = asyncio.create_task(reack_200(channel, ack))
        try:
            if media is not None and media[1] != 0:
                address, port, answer_type = media
                negotiated = answer_type if answer_type in offered else payload_type
                payload = audio if audio is not None else sweep_audio(seconds, negotiated)
                sent = await send_media(
                    rtp, (address, port), negotiated, frames_of(payload, negotiated), remote_bye
                )
                if not remote_bye.is_set():
                    await asyncio.sleep(RTP_GRACE)
        finally:
            watcher.cancel()
        packets = tuple(rtp.packets)
        if not remote_bye.is_set():
            bye, bye_branch, _ = dialog.request("BYE", uri=remote_target)
            try:
                bye_final = await transaction(
                    channel, bye, branch=bye_branch, method="BYE", deadline=loop.time() + BYE_TIMEOUT
                )
                if bye_final.status >= 300:
                    log.warning("trunk %s: BYE answered %s", trunk.id, bye_final.status)
            except (TimeoutError, OSError) as exc:
                log.warning("trunk %s: BYE not answered (%r)", trunk.id, exc)
        return CallOutcome(
            True,
            final.status,
            final.reason,
            answered_at=answered_at,
            duration_s=round(loop.time() - answered, 3),
            rtp_sent=sent.count if sent else 0,
            rtp_received=len(packets),
            received=_in_sequence_order(packets) if record_received else None,
            error=None if sent is not None else NO_AUDIO_STREAM,
            pdd_ms=state["pdd_ms"],  # type: ignore[arg-type]
            setup_ms=setup_ms,
            payload_type=negotiated,
            remote_hangup=remote_bye.is_set(),
            sent=sent,
            packets=packets,
        )
    except CheckFailed as failure:
        return CallOutcome(
            False,
            failure.sip_code,
            str(state["reason"]),
            error=failure.reason,
            pdd_ms=state["pdd_ms"],  # type: ignore[arg-type]
        )
    except TimeoutError:
        return failed(f"timeout: no connection in {timeout:g} s")
    except (OSError, SipParseError) as exc:
        return failed(describe_transport_error(exc, trunk.transport))
    except ValueError as exc:  # an unusable digest challenge
        return failed(f"authentication failed: {exc}")
    finally:
        if rtp is not None:
            rtp.close()
        if channel is not None:
            channel.close()


def place_call(
    target: SipTarget,
    credentials: DigestCredentials | None,
    *,
    audio: bytes | None = None,
    payload_type: int = PCMU,
    record_received: bool = False,
    number: str | None = None,
    media_seconds: float | None = None,
    answer_timeout_s: float | None = None,
) -> CallOutcome:
    """:func:`place_call_async` from synchronous code (its own event loop); same arguments."""
    return asyncio.run(
        place_call_async(
            target,
            credentials,
            audio=audio,
            payload_type=payload_type,
            record_received=record_received,
            number=number,
            media_seconds=media_seconds,
            answer_timeout_s=answer_timeout_s,
        )
    )


__all__ = ["NO_AUDIO_STREAM", "RTP_GRACE", "CallOutcome", "place_call", "place_call_async"]
