"""People's rights over their data: a copy of it, forgetting it, exports and retention.

One module per right (rules over a database session), and `commands.py`, the `/circle`
subcommands that call Slack:

- `/circle my-data`: everything held about the person, as a JSON file in a DM with them.
- `/circle forget-me`: a confirmation modal (handlers/data_rights.py deletes nothing until it is
  submitted), then `forget_person` deletes their rows in one transaction.
- `/circle export` (a facilitator, in the circle's channel): a CSV file in a DM with them.
- `DATA_RETENTION_DAYS`: `sweep_retention` clears old text people wrote every day (answers,
  action items, demo sign-ups; the labels of finished circles; profiles of people gone).

Where a user id is stored is listed once, in `rows.FORGET_STEPS`; a new table that holds one
(pairings, a search index) adds its step there. tests/bot/data_rights/test_data_rights.py
walks every table and text column after forget-me, so a place missing here fails it.
"""
