"""What the card ledger announces, in the transaction of the change. The outbox listens
(cardid.notifications), so cards never imports what delivers."""

from django.dispatch import Signal

# Numbers newly given to users (not moved between a user's own slots): user_ids, slot,
# notify (a NotifyReason when the users are to be told, else None), at (the change's time,
# adapted for the database).
numbers_issued = Signal()

# Every change of a slot, however made: changes is a list of (user_id, slot, number or None
# when cleared, whether the slot held a number before); origin the cards' origin (synced:
# the directory's own value); at as above. What flows out (write-back, webhooks) listens.
numbers_changed = Signal()
