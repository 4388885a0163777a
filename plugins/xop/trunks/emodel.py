"""The ITU-T G.107 E-model (narrowband, 06/2015 edition): transmission rating R and estimated MOS.

    R = Ro - Is - Id - Ie,eff + A                                                   (G.107 eq. 7-1)

Every term is computed with G.107 §7's equations from the parameters of its Table 3; the
defaults are that table's default values, for which G.107 states R = 93.2 (a G.711 call with no
impairment at all). What the trunk check measures enters in three places:

* ``Ta`` (mean one-way delay, ms) drives the delay impairment ``Idd`` (§7.3.3, with G.107's
  ``mT`` = 100 ms and ``sT`` = 1). ``T`` (talker echo path) and ``Tr`` (listener echo round trip)
  keep their defaults' meaning: for a call with echo control, ``T = Ta`` and ``Tr = 2 Ta``.
* ``Ppl`` (packet-loss probability, %) and ``BurstR`` (burst ratio) give ``Ie,eff`` (§7.4,
  eq. 7-29) with the codec's ``Ie`` and ``Bpl``. For G.711, ``Ie`` = 0 and ``Bpl`` = 25.1 with
  packet-loss concealment, 4.3 without (ITU-T G.113 Appendix I, Table I.3).
* Jitter enters through the jitter buffer: its nominal delay adds to ``Ta`` and the packets it
  discards as too late add to ``Ppl`` (ITU-T G.1020 §6.3); see :mod:`xop.trunks.quality`.

The R → MOS conversion is G.107 Annex B (eq. B-4).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

#: G.711's equipment impairment factor and packet-loss robustness (ITU-T G.113 App. I, Table I.3).
G711_IE = 0.0
G711_BPL_PLC = 25.1
G711_BPL_NO_PLC = 4.3


@dataclass(frozen=True, slots=True)
class EModelInput:
    """G.107 Table 3 parameters (names as in G.107); the defaults are the table's defaults."""

    SLR: float = 8.0  # send loudness rating (dB)
    RLR: float = 2.0  # receive loudness rating (dB)
    STMR: float = 15.0  # sidetone masking rating (dB)
    LSTR: float = 18.0  # listener sidetone rating (dB)
    Ds: float = 3.0  # D-value of telephone, send side
    Dr: float = 3.0  # D-value of telephone, receive side
    TELR: float = 65.0  # talker echo loudness rating (dB)
    WEPL: float = 110.0  # weighted echo path loss (dB)
    T: float = 0.0  # mean one-way delay of the echo path (ms)
    Tr: float = 0.0  # round-trip delay in a 4-wire loop (ms)
    Ta: float = 0.0  # absolute (mouth-to-ear) delay (ms)
    qdu: float = 1.0  # number of quantisation distortion units
    Ie: float = 0.0  # equipment impairment factor
    Bpl: float = 1.0  # packet-loss robustness factor
    Ppl: float = 0.0  # random packet-loss probability (%)
    BurstR: float = 1.0  # burst ratio
    Nc: float = -70.0  # circuit noise referred to the 0 dBr point (dBm0p)
    Nfor: float = -64.0  # noise floor at the receive side (dBmp)
    Ps: float = 35.0  # room noise at the send side (dB(A))
    Pr: float = 35.0  # room noise at the receive side (dB(A))
    A: float = 0.0  # advantage factor
    mT: float = 100.0  # minimum perceivable delay (ms), §7.3.3
    sT: float = 1.0  # delay sensitivity, §7.3.3


@dataclass(frozen=True, slots=True)
class EModelResult:
    Ro: float
    Is: float
    Id: float
    Ie_eff: float
    A: float
    R: float
    mos: float


def _lg(value: float) -> float:
    return math.log10(value)


def basic_snr(p: EModelInput) -> tuple[float, float]:
    """(Ro, No): the basic signal-to-noise ratio and the total noise power (§7.1, eq. 7-2 to 7-7)."""
    olr = p.SLR + p.RLR
    nos = p.Ps - p.SLR - p.Ds - 100 + 0.004 * (p.Ps - olr - p.Ds - 14) ** 2
    pre = p.Pr + 10 * _lg(1 + 10 ** ((10 - p.LSTR) / 10))
    nor = p.RLR - 121 + pre + 0.008 * (pre - 35) ** 2
    nfo = p.Nfor + p.RLR
    no = 10 * _lg(10 ** (p.Nc / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10))
    return 15 - 1.5 * (p.SLR + no), no


def sidetone_impairment(p: EModelInput) -> float:
    """Ist, the impairment by non-optimum sidetone (§7.2, eq. 7-12 and 7-13)."""
    stmro = -10 * _lg(10 ** (-p.STMR / 10) + math.exp(-p.T / 4) * 10 ** (-p.TELR / 10))
    return (
        12 * (1 + ((stmro - 13) / 6) ** 8) ** (1 / 8)
        - 28 * (1 + ((stmro + 1) / 19.4) ** 35) ** (1 / 35)
        - 13 * (1 + ((stmro - 3) / 33) ** 13) ** (1 / 13)
        + 29
    )


def simultaneous_impairment(p: EModelInput, ro: float, no: float) -> float:
    """Is = Iolr + Ist + Iq (§7.2, eq. 7-8 to 7-18)."""
    olr = p.SLR + p.RLR
    xolr = olr + 0.2 * (64 + no - p.RLR)
    iolr = 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8)
    ist = sidetone_impairment(p)
    q = 37 - 15 * _lg(p.qdu)
    g = 1.07 + 0.258 * q + 0.0602 * q**2
    y = (ro - 100) / 15 + 46 / 8.4 - g / 9
    z = 46 / 30 - g / 40
    iq = 15 * _lg(1 + 10**y + 10**z)
    return iolr + ist + iq


def delay_impairment(p: EModelInput, ro: float, no: float) -> float:
    """Id = Idte + Idle + Idd (§7.3, eq. 7-19 to 7-28)."""
    terv = p.TELR - 40 * _lg((1 + p.T / 10) / (1 + p.T / 150)) + 6 * math.exp(-0.3 * p.T**2)
    if p.STMR < 9:  # eq. 7-22: with little sidetone masking, the echo is more audible
        terv += sidetone_impairment(p) / 2
    roe = -1.5 * (no - p.RLR)
    re = 80 + 2.5 * (terv - 14)
    idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-p.T))
    if p.STMR > 20:  # eq. 7-24: Idte replaced by Idtes
        idte = math.sqrt(idte**2 + sidetone_impairment(p) ** 2)
    rle = 10.5 * (p.WEPL + 7) * (p.Tr + 1) ** -0.25
    idle = (ro - rle) / 2 + math.sqrt((ro - rle) ** 2 / 4 + 169)
    if p.Ta <= p.mT:
        idd = 0.0
    else:
        x = _lg(p.Ta / p.mT) / _lg(2)
        s = 6 * p.sT
        idd = 25 * ((1 + x**s) ** (1 / s) - 3 * (1 + (x / 3) ** s) ** (1 / s) + 2)
    return idte + idle + idd


def effective_equipment_impairment(ie: float, ppl: float, bpl: float, burst_ratio: float) -> float:
    """Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)  (§7.4, eq. 7-29); Ppl in %."""
    return ie + (95 - ie) * ppl / (ppl / burst_ratio + bpl)


def mos_from_r(r: float) -> float:
    """Estimated MOS (conversational quality) from R (G.107 Annex B, eq. B-4)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


def rate(p: EModelInput) -> EModelResult:
    ro, no = basic_snr(p)
    is_ = simultaneous_impairment(p, ro, no)
    id_ = delay_impairment(p, ro, no)
    ie_eff = effective_equipment_impairment(p.Ie, p.Ppl, p.Bpl, p.BurstR)
    r = ro - is_ - id_ - ie_eff + p.A
    return EModelResult(ro, is_, id_, ie_eff, p.A, r, mos_from_r(r))


def burst_ratio(lost: list[bool]) -> float:
    """G.107's BurstR of a loss pattern, from the two-state Markov model it assumes (§7.4).

    With p = P(lost | previous received) and q = P(received | previous lost), BurstR = 1/(p + q);
    1 for random loss, above 1 for bursty loss. Without loss (or without a received packet) it is 1.
    """
    found_to_lost = lost_to_found = found = lost_count = 0
    for previous, current in itertools.pairwise(lost):
        if previous:
            lost_count += 1
            lost_to_found += not current
        else:
            found += 1
            found_to_lost += current
    if not found_to_lost or not found or not lost_count:
        return 1.0
    p = found_to_lost / found
    q = lost_to_found / lost_count
    return 1.0 if p + q == 0 else 1.0 / (p + q)


def rate_g711(
    one_way_delay_ms: float, loss_pct: float, *, burst: float = 1.0, concealment: bool = True
) -> EModelResult:
    """R and MOS of a G.711 call: Table 3 defaults, ``Ta = T = one_way_delay_ms``, ``Tr = 2 Ta``."""
    return rate(
        EModelInput(
            T=one_way_delay_ms,
            Tr=2 * one_way_delay_ms,
            Ta=one_way_delay_ms,
            Ie=G711_IE,
            Bpl=G711_BPL_PLC if concealment else G711_BPL_NO_PLC,
            Ppl=loss_pct,
            BurstR=burst,
        )
    )


__all__ = [
    "G711_BPL_NO_PLC",
    "G711_BPL_PLC",
    "G711_IE",
    "EModelInput",
    "EModelResult",
    "burst_ratio",
    "effective_equipment_impairment",
    "mos_from_r",
    "rate",
    "rate_g711",
]
