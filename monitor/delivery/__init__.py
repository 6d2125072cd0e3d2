"""Stage 6, delivery: what readers get, exactly once.

`digest.py`: waiting stories → `Digest` (topics, best first, updates, page changes, the safety net, failing
feeds), when the next one is due, the feed-health notice; `cycle.py`: the delivery half of a cycle (urgent
alerts, health, page re-checks, the digest); `outbox.py`: queue → send → mark; `weekly.py` and `charts.py`:
the weekly report; `status.py`: `monitor status`; `incidents.py`: the incident layer (one entry per incident in
a digest, one urgent alert per incident); `silence.py`: the silence alert of the `region: gbao` sources. Channels behind one `Notifier` (`notifier.py`):
`stdout.py`, `email.py` (its SMTP session in `smtp.py`), `telegram.py`, rendered by `text.py`; `channels.py` builds them from the environment
only, `envfile.py` reads a systemd environment file for `check-config --env-file`; `routing.py` gives each
reader of feeds.yaml's `recipients:` a channel of their own that takes only their part of each digest.

A message some recipients (email) or some pieces (Telegram) already took is kept for the rest only
(`notifier.PartlyDelivered`): nothing accepted is ever sent again, nothing refused for now is dropped.

Takes: the store's waiting stories. Returns: messages in the outbox, sent and marked.
May import: `config`, `store`, `stories`, `evidence` (the archive's size in `status`, page re-checks).
"""
