"""Small tables for the chapters, rendered as HTML (no pandas needed).

HTML rather than Markdown: myst-nb renders ``text/markdown`` outputs as CommonMark, which has no
tables, while HTML looks the same in the static book and in JupyterLab.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from IPython.display import HTML

from rdvae.runs import tier_order


def _cell(value, digits: int) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    return str(value)


def html_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None, digits: int = 3) -> HTML:
    """A table with one row per mapping; ints get thousands separators, floats ``digits`` decimals.
    No rows (none of the runs it reads is stored, or they hold no learning curves) gives a line saying
    so instead of a table."""
    if not rows:
        return HTML(
            "<p><em>Nothing to tabulate: the runs this table reads are not stored here, "
            "or hold no learning curves.</em></p>"
        )
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row.get(c), digits))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return HTML(f'<table class="rdvae-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


_STATUS_COLOURS = {
    "reproduced": "#d4edda",
    "not reproduced": "#f8d7da",
    "inconclusive at this profile": "#fff3cd",
}


def verdict_table(verdicts, profile: str, history: Mapping[str, str] | None = None) -> HTML:
    """The ledger's verdicts: claim, statement, threshold, verdict (coloured, with the budget that
    decided it, whether that is below the paper's, which of its runs were still improving when
    training stopped, and, for a claim in ``history`` (:func:`rdvae.ledger.verdict_history`), its
    verdict at every budget, since it changed with training), numbers, note."""
    history = history or {}
    head = "".join(f"<th>{c}</th>" for c in ("claim", "statement", "threshold", "verdict", "numbers"))
    body = []
    for v in verdicts:
        numbers = "<br>".join(f"{html.escape(str(k))}: {html.escape(str(x))}" for k, x in v.numbers.items())
        if v.note:
            numbers += ("<br>" if numbers else "") + f"<em>{html.escape(v.note)}</em>"
        colour = _STATUS_COLOURS.get(v.status, "white")
        cells = [v.claim, html.escape(v.statement), html.escape(v.threshold)]
        body.append(
            "<tr>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + f'<td style="background:{colour}"><b>{v.status}</b>{_budget(v)}{_changed(history.get(v.claim))}'
            f'</td><td style="font-size:85%">{numbers}</td></tr>'
        )
    caption = (
        f"verdicts computed from the results store, build profile <b>{html.escape(profile)}</b>; each claim "
        "is decided by the most-trained budget that holds all its runs"
    )
    table = f"<caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
    return HTML(f'<table class="rdvae-table">{table}</table>')


def _budget(verdict) -> str:
    if not verdict.decided_at:
        return ""
    below = "<br><em>below the paper's budget</em>" if verdict.below_paper else ""
    falling = f"<br><em>{html.escape(verdict.still_falling)}</em>" if verdict.still_falling else ""
    where = html.escape(f"{verdict.decided_at}: {verdict.budget}")
    return f'<br><span style="font-size:80%">{where}{below}{falling}</span>'


def _changed(history: str | None) -> str:
    if not history:
        return ""
    changed = html.escape(f"changed with training: {history.replace(' -> ', ' → ')}")
    return f'<br><span style="font-size:80%"><em>{changed}</em></span>'


def verdicts_by_budget_table(by_claim: Mapping[str, Mapping[tuple, object]]) -> HTML:
    """Claim by profile: each claim's verdict (coloured, with its budget) at every budget that holds
    all its runs (:func:`rdvae.ledger.at_every_budget`), least-trained first, one line per number of
    iterations within a profile; a dagger marks a verdict decided by runs whose test D was still
    falling when training stopped."""
    tiers = tier_order(tier for found in by_claim.values() for tier in found)[::-1]
    profiles = list(dict.fromkeys(profile for profile, _ in tiers))
    head = "<th>claim</th>" + "".join(f"<th>{html.escape(p)}</th>" for p in profiles)
    body = []
    for claim, found in by_claim.items():
        cells = []
        for profile in profiles:
            lines = [
                f'<div style="background:{_STATUS_COLOURS.get(v.status, "white")}">{html.escape(v.status)}'
                f"{' †' * bool(v.still_falling)}<br>"
                f'<span style="font-size:80%">{html.escape(v.budget)}</span></div>'
                for tier in tiers
                if tier[0] == profile and (v := found.get(tier)) is not None
            ]
            cells.append(f"<td>{''.join(lines) or '—'}</td>")
        body.append(f"<tr><td>{html.escape(claim)}</td>{''.join(cells)}</tr>")
    caption = (
        "each claim's verdict at every budget that holds all its runs, least-trained first; — : its runs "
        "are not all stored at that profile; † : decided by runs whose test D was still falling"
    )
    table = f"<caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
    return HTML(f'<table class="rdvae-table">{table}</table>')
