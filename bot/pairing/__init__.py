"""Peer pairing in circles: rounds formed exactly once (rounds.py), who is paired and with whom
(queries.py), their group DMs (messages.py, kinds.py), and the `/circle` subcommands `pair`,
`nopair`, `pair-me` and `team` (commands.py); rotation.py plans the groups (pure).

Who is paired: the circle's active participants (role participant) who joined before the
round's moment, except people who left Slack (users.info says deleted, or a bot), opted out
(`/circle nopair`) or are away on the round's local date (their own zone). A person's team is
`Membership.team` (`/circle team @person <team>`), else their Slack profile title, else
unknown (never the same team as anyone). rotation.py chooses the groups from the seed and the
circle's earlier rounds; the seed is derived from the circle id and stays the same from round
to round, because the rotation it plans spans the whole cycle.

A round is formed exactly once, in one transaction that holds the round (`pairing_round`,
unique key), its members (`pairing_member`: a group number, or 0 and why not paired) and its
messages as pending deliveries: one `pairing_intro` per group (a group DM, key
`pairing:<round>:<group>`, recipient the group's first member) and one `pairing_skipped` per
person left out who can still be told (`pairing_skip:<round>:<user>`). The circle row is
locked first (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers anyway), so two
processes forming the same round find the key taken and form nothing.

- `/circle pair` (a facilitator) forms a round now, under `pairing:manual:<circle>:<minute>`:
  pressing it twice within a minute forms one round; a minute later it forms the next one.
  Fewer than two people who can be paired is refused with the reasons, and nothing is written.
- A `pairing` schedule fires in its pinned zone, else the circle's (like the digest's channel
  post): each occurrence is `pairing:<schedule>:<local date>`, formed by `Deliverer.tick`
  (`form_due_rounds`) unless the circle is paused that day or the date is skipped; an
  occurrence found later than the grace window is not formed at all (nobody would be told in
  time). With one person available the round records them as `alone` and tells them.

Debriefs name the peer: `peers_at` finds the recipient's group in the latest round at or before
the debrief's moment (the rhythm's check-in builder and the reflection modal's prefill).
"""
