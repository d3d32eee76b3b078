"""The controls a drill file may say it exercises (`controls: [...]`), and what each asks, in a line.

The ids are the ones an auditor's evidence pack maps drill records to (`moneypath evidence`): a control is covered
in a period only by a passed drill record of that period that declares it. The lines paraphrase the rules' texts
(PCI DSS v4.0 requirement 12.10, DORA Regulation 2022/2554, FCA SYSC 15A with PRA SS1/21, the SOC 2 trust
services criteria); they say what a drill must show, not the rule in full.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    asks: str  # what the rule asks to see, in one line


CONTROLS: dict[str, Control] = {c.id: c for c in (
    Control("PCI-DSS-12.10.1", "PCI DSS 12.10.1 — incident response plan",
            "A plan ready to start at once: roles, notifying card brands and acquirers, containment per incident "
            "type, continuity, backups, legal reporting and the critical system components."),
    Control("PCI-DSS-12.10.2", "PCI DSS 12.10.2 — plan reviewed and tested",
            "The incident response plan reviewed and tested at least every 12 months, every 12.10.1 element "
            "included."),
    Control("PCI-DSS-12.10.5", "PCI DSS 12.10.5 — responding to monitoring alerts",
            "The plan covers responding to the alerts of the security and monitoring systems."),
    Control("PCI-DSS-12.10.6", "PCI DSS 12.10.6 — lessons learned",
            "The plan is changed with the lessons learned from incidents and tests and with industry developments."),
    Control("PCI-DSS-12.10.7", "PCI DSS 12.10.7 — card numbers where they should not be",
            "Procedures started when stored card numbers (PAN) are found where they are not expected."),
    Control("DORA-Art11", "DORA Art. 11 — response and recovery plans tested",
            "ICT business continuity, response and recovery plans tested at least yearly (Art. 11(6))."),
    Control("DORA-Art25", "DORA Art. 24–25 — testing programme",
            "A programme of scenario-based tests whose findings are traced to a fix and a retest."),
    Control("SYSC-15A", "FCA SYSC 15A / PRA SS1/21 — operational resilience",
            "Scenario tests of important business services against severe but plausible disruption, judged "
            "against their impact tolerances."),
    Control("SOC2-CC7.4", "SOC 2 CC7.4 — incident response",
            "Identified incidents are responded to by a defined programme: timestamped incident and tabletop "
            "records that auditors sample."),
    Control("SOC2-CC7.5", "SOC 2 CC7.5 — recovery from incidents",
            "Activities that restore operations after an incident are identified, carried out and recorded."),
)}


def unknown(ids: list[str]) -> list[str]:
    """The ids of `ids` that are not controls."""
    return [i for i in ids if i not in CONTROLS]
