"""The watchdog's rules and the engine that applies them: pure, the clock passed in.

A rule watches one condition on every poll of a miner (hash rate zero while mining, no new
accepted shares, too hot) and, once it has held long enough, decides an action.  Escalation:
if the condition still holds ``then.polls`` polls after the action, the rule's ``then.action``
follows (restart the backend, then reboot).  After an action the rule rests for ``cooldown``
seconds; ``max_attempts`` actions per miner at most until the condition has been clear for a
whole cool-down (then the count starts again).  The engine only decides: the feature
(bridge.features.watchdog) acts and publishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from asic_bridge.data import MinerData

Action = Literal["event", "restart_backend", "reboot", "sleep"]
DAY = 86400.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Then(_Strict):
    """The next step while the condition still holds ``polls`` polls after the action."""

    action: Action
    polls: int = Field(ge=1, le=10_000)


class _Rule(_Strict):
    #: names the rule in events and metrics; default: the condition's name
    name: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[\w-]+$")
    action: Action = "event"
    then: Then | None = None
    cooldown: float = Field(default=600.0, ge=0, le=DAY)
    max_attempts: int = Field(default=3, ge=1, le=1000)

    @property
    def label(self) -> str:
        return self.name or str(getattr(self, "when", "rule"))


class HashrateZero(_Rule):
    """Hash rate 0 while the miner says it mines (not asleep), for ``polls`` polls in a row."""

    when: Literal["hashrate_zero"]
    polls: int = Field(default=3, ge=1, le=10_000)


class NoShares(_Rule):
    """No new accepted share (all pools summed) for ``minutes`` while the miner mines."""

    when: Literal["no_shares"]
    minutes: float = Field(gt=0, le=DAY / 60)


class TemperatureAbove(_Rule):
    """The hottest board or chip reading above ``celsius`` for ``polls`` polls in a row."""

    when: Literal["temperature_above"]
    celsius: float = Field(gt=0, le=200)
    polls: int = Field(default=1, ge=1, le=10_000)


Rule = Annotated[HashrateZero | NoShares | TemperatureAbove, Field(discriminator="when")]


class WatchdogConfig(_Strict):
    """``fleet.groups.<group>.watchdog``: off unless the group has one with rules."""

    enabled: bool = True
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> WatchdogConfig:
        names = [r.label for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique (set name:): {', '.join(dupes)}")
        return self


# ================================================================== readings
@dataclass(frozen=True, slots=True)
class Reading:
    """What the rules look at, taken from one poll."""

    hashrate: float | None
    mining: bool | None
    accepted: int | None
    max_temp: float | None


def reading_of(data: MinerData) -> Reading:
    temps = [t for b in data.hashboards for t in (b.temp, b.chip_temp) if t is not None and t > 0]
    shares = [p.accepted for p in data.pools if p.accepted is not None]
    return Reading(
        hashrate=data.hashrate,
        mining=data.is_mining,
        accepted=sum(shares) if shares else None,
        max_temp=max(temps) if temps else None,
    )


# ================================================================== the engine
@dataclass(frozen=True, slots=True)
class Decision:
    miner_id: str
    rule: str
    action: Action
    reason: str
    attempt: int


@dataclass
class _Track:
    """One rule's memory of one miner."""

    streak: int = 0  # polls in a row the condition held
    since: float | None = None  # no_shares: when the share counter last moved
    last_accepted: int | None = None
    acted_at: float | None = None
    polls_since_action: int = 0
    escalated: bool = False
    attempts: int = 0
    clear_since: float | None = None
    gave_up: bool = False


@dataclass
class Engine:
    """Feed it every poll with the miner's rules (``observe``); it returns what to do now."""

    _tracks: dict[tuple[str, str], _Track] = field(default_factory=dict)

    def forget(self, miner_id: str) -> None:
        for key in [k for k in self._tracks if k[0] == miner_id]:
            del self._tracks[key]

    def interrupt(self, miner_id: str) -> None:
        """The miner stopped answering: streaks restart (a reboot is not hash rate 0)."""
        for key, track in self._tracks.items():
            if key[0] == miner_id:
                track.streak = 0
                track.since = None
                track.last_accepted = None

    def observe(
        self,
        miner_id: str,
        rules: Sequence[HashrateZero | NoShares | TemperatureAbove],
        reading: Reading,
        now: float,
    ) -> list[Decision]:
        decisions = []
        for rule in rules:
            track = self._tracks.setdefault((miner_id, rule.label), _Track())
            decision = self._step(miner_id, rule, track, reading, now)
            if decision is not None:
                decisions.append(decision)
        return decisions

    def _step(
        self,
        miner_id: str,
        rule: HashrateZero | NoShares | TemperatureAbove,
        track: _Track,
        reading: Reading,
        now: float,
    ) -> Decision | None:
        held, reason = _condition(rule, track, reading, now)
        if held is None:
            return None  # not readable this poll: neither holds nor clears
        if not held:
            track.streak = 0
            track.polls_since_action, track.escalated = 0, False
            if track.clear_since is None:
                track.clear_since = now
            if track.attempts and now - track.clear_since >= rule.cooldown:
                track.attempts, track.gave_up = 0, False
            return None
        track.clear_since = None
        track.streak += 1
        if track.acted_at is not None:
            track.polls_since_action += 1
        action: Action | None = None
        if (
            rule.then is not None
            and track.acted_at is not None
            and not track.escalated
            and track.polls_since_action >= rule.then.polls
        ):
            action = rule.then.action  # the next step, within the cool-down by design
            track.escalated = True
        elif _due(rule, track) and (
            track.acted_at is None or now - track.acted_at >= rule.cooldown
        ):
            action = rule.action
            track.escalated = False
        if action is None:
            return None
        if track.attempts >= rule.max_attempts:
            if track.gave_up:
                return None
            track.gave_up = True  # said once, then silent until the condition clears
            return Decision(miner_id, rule.label, "event", f"{reason}; gave up", track.attempts)
        track.attempts += 1
        track.acted_at = now
        track.polls_since_action = 0
        return Decision(miner_id, rule.label, action, reason, track.attempts)


def _due(rule: HashrateZero | NoShares | TemperatureAbove, track: _Track) -> bool:
    if isinstance(rule, NoShares):
        return True  # its condition already includes the duration
    return track.streak >= rule.polls


def _condition(
    rule: HashrateZero | NoShares | TemperatureAbove, track: _Track, reading: Reading, now: float
) -> tuple[bool | None, str]:
    """(holds, why) for this poll; holds None: the reading needed is missing."""
    if isinstance(rule, HashrateZero):
        if reading.hashrate is None or reading.mining is None:
            return None, ""
        return reading.mining and reading.hashrate <= 0, "hash rate 0 while mining"
    if isinstance(rule, TemperatureAbove):
        if reading.max_temp is None:
            return None, ""
        return reading.max_temp > rule.celsius, f"temperature {reading.max_temp:g} °C"
    if reading.accepted is None or reading.mining is None:
        return None, ""
    if not reading.mining:
        track.last_accepted = reading.accepted
        return False, ""
    if track.last_accepted is None or reading.accepted != track.last_accepted:
        # first sight, a new share, or a counter reset (a restarted backend): clock restarts
        track.last_accepted = reading.accepted
        track.since = now
        return False, ""
    assert track.since is not None
    held = now - track.since >= rule.minutes * 60
    return held, f"no accepted share for {(now - track.since) / 60:.0f} min"


def rules_for(
    miner_id: str, groups: Iterable[tuple[Sequence[str], WatchdogConfig | None]]
) -> list[HashrateZero | NoShares | TemperatureAbove]:
    """The rules of every enabled watchdog whose group has the miner (no members = all)."""
    rules: list[HashrateZero | NoShares | TemperatureAbove] = []
    for members, watchdog in groups:
        if watchdog is not None and watchdog.enabled and (not members or miner_id in members):
            rules.extend(watchdog.rules)
    return rules
