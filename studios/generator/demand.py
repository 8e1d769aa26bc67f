"""How a studio's business responds to what the owner does (SPEC §12).

The generator is also a simulator of the world the model is tested against, so the
levers must act on it the way they act on a business:

* **Price moves churn and sign-ups, with a lag.** A price above the studio's usual
  level (its list price path) thins sign-ups and raises churn for as long as it
  holds; a rise also shocks churn for a few months, until the members who stay
  have got used to it (the reference price catches up). Members hear of a new price
  and act on it the next month.
* **Attendance saturates towards capacity.** Members' demand for classes, spread
  over the classes held, fills them; a fuller timetable spreads the same demand
  thinner, a thinner one packs it in until the rooms are full (no month's classes
  are more than 95% full).
* **New members saturate with the local market.** Extra marketing brings fewer
  sign-ups the closer the studio is to its market's size.
* **Classes per member of staff drive staff utilisation**, and utilisation above
  85% costs retention (``simulate``'s overstretch penalty).

Values and their sources. Published estimates of the price elasticity of demand for
exercise and sport memberships are low: Anokye, Pokhrel and Fox-Rushby (2014,
International Journal of Behavioral Nutrition and Physical Activity 11:117,
England, 1,683 adults) find 10% higher money prices associated with 3% fewer gym
workout occasions (about -0.3); Anokye et al. (2012, European Journal of Health
Economics 13:277-287) find the demand for sports and exercise price-inelastic;
Wicker, Breuer and Pawlowski (German Sport University Cologne) find the demand for
sport club memberships price-inelastic. Boutique studios are more discretionary
than club sport and have close substitutes, so the values below are **assumptions**
set a little above those estimates: a sign-up semi-elasticity of 0.35-0.55 (a price
10% above the usual level brings 3.5-5.5% fewer sign-ups), a churn semi-elasticity
of 0.15-0.25 on the price level and of 1.5 on a fresh rise (a 10% rise raises churn
by about 15% the next month, fading as the members get used to it, with a
half-life of about two and a half months). In the long run members then fall by 5-8% for a
price 10% above the usual level, so a price rise still pays in most studios, but
less than in proportion, and beyond a point it loses revenue: the price that
maximises revenue is measured by ``bench/levers.py``. The saturation constants are
assumptions too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ATTENDANCE_CEILING",
    "DEMAND",
    "REFERENCE_ADAPTATION",
    "DemandResponse",
    "extra_sign_ups",
    "price_response",
    "saturated_rate",
]


@dataclass(frozen=True)
class DemandResponse:
    """Price response of one studio type.

    Attributes
    ----------
    sign_ups : float
        Semi-elasticity of new members to the price level: sign-ups are
        multiplied by ``exp(-sign_ups x (price / usual price - 1))``.
    churn_level : float
        The same for churn, with the opposite sign: ``exp(churn_level x ...)``.
    churn_shock : float
        Extra churn from a fresh rise: ``exp(churn_shock x max(log(price /
        reference price), 0))``, the reference price adapting month by month.
    """

    sign_ups: float
    churn_level: float
    churn_shock: float


#: Per studio type (assumptions within the published range; see the module).
DEMAND: dict[str, DemandResponse] = {
    "yoga": DemandResponse(sign_ups=0.5, churn_level=0.2, churn_shock=1.5),
    "pilates": DemandResponse(sign_ups=0.35, churn_level=0.15, churn_shock=1.5),
    "crossfit": DemandResponse(sign_ups=0.45, churn_level=0.15, churn_shock=1.5),
    "wellness": DemandResponse(sign_ups=0.55, churn_level=0.25, churn_shock=1.5),
    "boutique_fitness": DemandResponse(sign_ups=0.45, churn_level=0.2, churn_shock=1.5),
}

#: Share of the gap between the price and the reference price members close each
#: month (a half-life of about 2.4 months).
REFERENCE_ADAPTATION = 0.25
#: No month's classes are fuller than this on average (no-shows, late cancels).
ATTENDANCE_CEILING = 0.95
# Sharpness of the saturation: near-linear below ~80% full.
_SATURATION_SHARPNESS = 8.0
#: A studio's market: sign-ups from extra marketing vanish at this multiple of its
#: size (members at age 4 on its growth path).
MARKET_MULTIPLE = 1.6


def price_response(
    level: np.ndarray,
    reference_level: np.ndarray,
    response: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers of sign-ups and churn for last month's price.

    Parameters
    ----------
    level : numpy.ndarray
        Last month's price over the studio's usual price (its list price path,
        founding ramp and inflation included), shape (n,): 1.1 is 10% above.
    reference_level : numpy.ndarray
        The level the members have got used to, shape (n,).
    response : tuple of numpy.ndarray
        Per studio: sign-up and churn-level semi-elasticities, churn shock.

    Returns
    -------
    sign_ups, churn : numpy.ndarray
        Multipliers, shape (n,); 1 at the usual price with no fresh rise.
    """
    sign_ups, churn_level, churn_shock = response
    above = level - 1.0
    rise = np.maximum(np.log(level / reference_level), 0.0)
    return (
        np.exp(-sign_ups * above),
        np.exp(churn_level * above + churn_shock * rise),
    )


def saturated_rate(demand: np.ndarray) -> np.ndarray:
    """Class fill rate for a demand of ``demand`` x the places held.

    Near-linear while classes are well below full, bending towards
    :data:`ATTENDANCE_CEILING` as demand exceeds the places.
    """
    demand = np.maximum(demand, 0.0)
    ratio = demand / ATTENDANCE_CEILING
    return demand / (1.0 + ratio**_SATURATION_SHARPNESS) ** (
        1.0 / _SATURATION_SHARPNESS
    )


def extra_sign_ups(
    effort: np.ndarray, members: np.ndarray, size: np.ndarray
) -> np.ndarray:
    """Sign-ups that ``effort`` extra sign-ups' worth of marketing actually brings.

    All of them for a studio far below its market, fewer as its members approach
    ``MARKET_MULTIPLE x size``, none beyond; a cut in effort loses sign-ups in
    full.
    """
    headroom = np.clip(1.0 - members / (MARKET_MULTIPLE * size), 0.0, 1.0)
    return np.where(effort > 0, effort * headroom, effort)
