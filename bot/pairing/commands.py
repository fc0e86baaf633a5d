"""`/circle pair`, `/circle nopair`, `/circle pair-me` and `/circle team`."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup
from sqlmodel import col, select

from bot.circles import rules as circles
from bot.circles.rules import Refusal, circle_here, refuse_if_paused
from bot.pairing.messages import mentions
from bot.pairing.queries import PAIRING_INTRO, candidates
from bot.pairing.rounds import (
    Formed,
    form_round,
    manual_key,
    refresh_profiles,
    skip_text,
    too_few_refusal,
)
from bot.slack import mrkdwn
from bot.slash.base import Deps, Invocation, Outcome
from bot.slash.parse import NoPair, Pair, PairMe, SetTeam
from prompts import mention, render
from storage.models import (
    Circle,
    Delivery,
    DeliveryStatus,
    Person,
    Role,
)


def pair(command: Pair, inv: Invocation, deps: Deps) -> Outcome:
    return _pair(inv, deps)


def no_pair(command: NoPair, inv: Invocation, deps: Deps) -> Outcome:
    return _opt(inv, deps, opt_out=True)


def pair_me(command: PairMe, inv: Invocation, deps: Deps) -> Outcome:
    return _opt(inv, deps, opt_out=False)


def set_team(command: SetTeam, inv: Invocation, deps: Deps) -> Outcome:
    return _set_team(command, inv, deps)


def _pair(inv: Invocation, deps: Deps) -> Outcome:
    now = deps.clock()
    with deps.db.read_session() as session:
        circle = circle_here(session, inv, subcommand="pair")
        circles.require_facilitator(session, circle, inv.user_id, "pair people")
        refuse_if_paused(session, circle, now, "nobody is paired")
        found = candidates(session, circle, now)
        refusal = too_few_refusal(circle, found)
        if refusal is not None:
            raise refusal
        circle_id, team_id, name = circle.id or 0, circle.team_id, circle.name
    count = sum(c.skip_reason is None for c in found)

    def follow_up() -> str:
        refresh_profiles(deps.db, deps.client, team_id, [c.user_id for c in found], now)
        with deps.db.session() as session:
            live = session.get(Circle, circle_id)
            if live is None or live.is_archived:
                return "This circle was archived meanwhile, so nobody was paired."
            circles.require_facilitator(session, live, inv.user_id, "pair people")
            formed = form_round(
                session,
                live,
                key=manual_key(circle_id, now),
                moment=now,
                now=now,
                created_by=inv.user_id,
                schedule_id=None,
                refuse_too_few=True,
            )
        assert formed is not None  # refuse_too_few: never None
        if not formed.created:
            return (
                f"*{mrkdwn.escape(name)}* was already paired this minute (round "
                f"{formed.round.round_no}); nothing was formed or sent twice.\n"
                + _groups_text(formed)
            )
        deps.deliverer.send(formed.delivery_ids, now=now)
        with deps.db.read_session() as session:
            rows = session.exec(
                select(Delivery).where(col(Delivery.id).in_(formed.delivery_ids))
            ).all()
            problems = [_problem(d) for d in rows if d.status != DeliveryStatus.SENT]
        return _round_text(name, formed, problems)

    return Outcome(
        f"Pairing {count} participants of *{mrkdwn.escape(name)}*…",
        follow_up,
    )


def _groups_text(formed: Formed) -> str:
    lines = [f"• {mentions(group)}" for group in formed.groups]
    if formed.skipped:
        lines.append(
            "Not paired this round: "
            + "; ".join(
                f"{mrkdwn.user(c.user_id)} {skip_text(c.skip_reason, c.away_until)}"
                for c in formed.skipped
            )
            + "."
        )
    return "\n".join(lines)


def _problem(delivery: Delivery) -> Markup:
    """A message of the round that wasn't sent, and Slack's reason (ids and escaped text)."""
    group = delivery.kind == PAIRING_INTRO
    return Markup(  # noqa: S704
        f"{'The group DM' if group else 'The note'} to {mention(delivery.recipient)}"
        + (" and the others in their group" if group else "")
        + f" wasn't sent: `{mrkdwn.escape(delivery.error or delivery.status)}`"
    )


def _round_text(name: str, formed: Formed, problems: Sequence[Markup]) -> str:
    return render(
        "messages/pairing_round.md.j2",
        circle_name=name,
        round_no=formed.round.round_no,
        groups=[mentions(group) for group in formed.groups],
        trio=any(len(group) > 2 for group in formed.groups),
        skipped=[
            (mention(c.user_id), skip_text(c.skip_reason, c.away_until)) for c in formed.skipped
        ],
        repeats=formed.repeats,
        same_team=formed.same_team,
        problems=problems,
    )


def _opt(inv: Invocation, deps: Deps, *, opt_out: bool) -> Outcome:
    sub = "nopair" if opt_out else "pair-me"
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand=sub)
        membership = circles.require_member(
            session, circle, inv.user_id, "choose whether they are paired"
        )
        name = mrkdwn.escape(circle.name)
        if membership.role != Role.PARTICIPANT:
            return Outcome(
                f"Only participants are paired in *{name}*, and you're "
                f"{'a facilitator' if membership.role == Role.FACILITATOR else 'a leader'} here, "
                "so there is nothing to change."
            )
        if membership.pairing_opt_out == opt_out:
            return Outcome(
                f"You already opted out of pairing in *{name}*. `/circle pair-me` joins again."
                if opt_out
                else f"You're already in the pairing of *{name}*: nothing changed."
            )
        membership.pairing_opt_out = opt_out
        session.add(membership)
    if opt_out:
        return Outcome(
            f"You won't be paired in *{name}* from the next round on; each round tells you "
            "that you were left out. `/circle pair-me` joins again."
        )
    return Outcome(f"You're back in the pairing of *{name}*: the next round includes you.")


def _set_team(command: SetTeam, inv: Invocation, deps: Deps) -> Outcome:
    with deps.db.session() as session:
        circle = circle_here(session, inv, subcommand="team")
        circles.require_facilitator(session, circle, inv.user_id, "set people's teams")
        name = mrkdwn.escape(circle.name)
        who = mrkdwn.user(command.user_id)
        membership = circles.membership_of(session, circle, command.user_id)
        if membership is None or not membership.is_active:
            raise Refusal(
                f"{who} isn't in *{name}*, so they have no team here. Add them first with "
                f"`/circle add @person`."
            )
        membership.team = command.team
        session.add(membership)
        if command.team is not None:
            return Outcome(
                f"{who}'s team in *{name}* is now *{mrkdwn.escape(command.team)}*. Pairing "
                "prefers partners from other teams. `/circle team @person` with no team goes "
                "back to their Slack title."
            )
        person = session.get(Person, (circle.team_id, command.user_id))
        title = person.title.strip() if person is not None else ""
    if title:
        return Outcome(
            f"Cleared {who}'s team in *{name}*: pairing uses their Slack title, "
            f"*{mrkdwn.escape(title)}*, as their team."
        )
    return Outcome(
        f"Cleared {who}'s team in *{name}*. Their Slack profile has no title, so their team is "
        "unknown: pairing never counts them as the same team as anyone."
    )
