"""Signal receivers named by their dotted path: an app connects what listens in its
AppConfig.ready without importing it, so that a process imports a listener (and the
libraries it uses) only when the signal is first sent."""

from django.dispatch import Signal
from django.utils.module_loading import import_string


class Receiver:
    def __init__(self, path: str):
        self.path = path
        self._func = None

    def __call__(self, sender, **kwargs):
        if self._func is None:
            self._func = import_string(self.path)
        return self._func(sender=sender, **kwargs)


def listen(signal: Signal, path: str, dispatch_uid: str) -> None:
    """Connect the function at `path` to `signal` (held strongly: nothing else holds it)."""
    signal.connect(Receiver(path), weak=False, dispatch_uid=dispatch_uid)
