"""The faults of a chaos run: what each does, to what, for how long, and the plan of them drawn
from a seeded generator."""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

SERVICES = ("ingest", "worker", "scheduler", "summarizer", "notifier")
# Services whose work is the summaries: their faults are timed around the trigger.
SUMMARY_SIDE = {"scheduler", "summarizer", "notifier"}


@dataclass
class Fault:
    kind: str  # kill, stop, broker-leader, brokers-all, pg-stop, sim, ingest-fd
    targets: tuple[str, ...] = ()  # services, or the simulator and its fault
    duration_s: float = 0.0  # how long the fault lasts before it is undone
    scenario: str = "sc3"  # the load it is made under: sc1 or sc3
    needs: str = ""  # "" | "isolated" | "brokers"
    settings: dict = field(default_factory=dict)  # a simulator's fault settings

    @property
    def name(self) -> str:
        if self.kind in ("kill", "stop"):
            return f"{self.kind} {'+'.join(self.targets)}"
        if self.kind == "sim":
            return f"{self.targets[0]} {self.targets[1]}"
        return self.kind

    @property
    def summary_side(self) -> bool:
        return self.kind == "sim" or self.kind == "pg-stop" or \
            any(t in SUMMARY_SIDE for t in self.targets)


def sim_fault(sim: str, what: str, duration_s: float) -> Fault:
    if sim == "slack-sim":
        settings = {"429": {"inject_429_rate": 0.8, "inject_retry_after_s": 1},
                    "5xx": {"inject_5xx_rate": 0.8},
                    # Posted, but the answer held 30 s: beyond the notifier's 10 s timeout.
                    "hang": {"inject_timeout_rate": 1.0, "timeout_hold_ms": 30000}}[what]
        off = {"inject_429_rate": 0, "inject_5xx_rate": 0, "inject_timeout_rate": 0}
    else:
        settings = {"429": {"inject_429_rate": 0.8},
                    "5xx": {"inject_500_rate": 0.8},
                    # Held 30 s: beyond the summarizer's request timeout (10 s in this run).
                    "hang": {"inject_timeout_rate": 1.0, "timeout_hold_ms": 30000}}[what]
        off = {"inject_429_rate": 0, "inject_500_rate": 0, "inject_timeout_rate": 0}
    return Fault("sim", (sim, f"{what} storm" if what != "hang" else "hanging answers"),
                 duration_s, "sc3", "", {"on": settings, "off": off})


def full_matrix(repeat: int, rng: random.Random) -> list[Fault]:
    faults: list[Fault] = []
    pairs = list(itertools.combinations(SERVICES, 2))
    rng.shuffle(pairs)
    for r in range(repeat):
        for s in SERVICES:
            # Ingest and the worker under both loads in turn; the summary side under SC3.
            scenario = ("sc1" if r % 2 == 0 else "sc3") if s in ("ingest", "worker") else "sc3"
            faults.append(Fault("kill", (s,), 0, scenario))
        faults.append(Fault("kill", pairs[r % len(pairs)], 0, "sc3"))
        for s in SERVICES:
            faults.append(Fault("stop", (s,), 20, "sc3"))
        faults.append(Fault("broker-leader", (), 0, "sc1" if r % 2 == 0 else "sc3", "brokers"))
        faults.append(Fault("brokers-all", (), 5, "sc3", "brokers"))
        faults.append(Fault("pg-stop", (), 30, "sc3", "isolated"))
        for sim in ("slack-sim", "openai-sim"):
            for what in ("429", "5xx", "hang"):
                faults.append(sim_fault(sim, what, 20))
        faults.append(Fault("ingest-fd", ("ingest",), 0, "sc1"))
    return faults


def quick_matrix() -> list[Fault]:
    """The most telling faults, short: a consumer and the edge killed, the partition leader
    killed, the database away for 10 s, the notifier killed while it posts."""
    return [Fault("kill", ("worker",), 0, "sc1"),
            Fault("kill", ("ingest",), 0, "sc1"),
            Fault("broker-leader", (), 0, "sc1", "brokers"),
            Fault("pg-stop", (), 10, "sc3", "isolated"),
            Fault("kill", ("notifier",), 0, "sc3")]


@dataclass
class Timing:
    scale: float
    sending_s: float  # loadgen's sending time at that scale
    trigger_s: float | None  # SC3's trigger
    moment_s: float  # the fault, after loadgen's start
    restart_after_s: float  # a killed service's restart (or a broker's) after the kill


def timing(fault: Fault, quick: bool, rng: random.Random) -> Timing:
    """The load's scale for the fault (long enough to run through it), and its moment."""
    restart = round(rng.uniform(1.0, 3.0), 2)
    down = fault.duration_s + (restart if fault.kind in ("kill", "broker-leader") else 0)
    if fault.scenario == "sc1":
        # SC1: connections ramped 100 -> 5,000 over 60 s x scale, 33,600 x scale events.
        scale = 0.1 if quick else 0.15
        sending = 60 * scale
        return Timing(scale, sending, None, round(rng.uniform(0.3, 0.6) * sending, 2), restart)
    # SC3: 100 events/s over 600 s x scale, a trigger at 60 s x scale (200 summaries).
    sending = max(15.0 if quick else 25.0, down + (12 if quick else 20))
    scale = round(sending / 600, 4)
    trigger = 60 * scale
    if fault.summary_side:
        moment = trigger + rng.uniform(0.3, 2.5)
    else:
        moment = rng.uniform(0.2, 0.45) * sending
    return Timing(scale, 600 * scale, trigger, round(moment, 2), restart)
