"""Every exception raised by huey, at its documented import path."""

from __future__ import annotations

from typing import Any


class HueyException(Exception):
    """Base class of huey's exceptions."""


class ConfigurationError(HueyException):
    """A Huey instance, storage or option is configured in a way that cannot work."""


class ConsumerOptionError(ConfigurationError, ValueError):
    """A consumer option with an unusable value.

    Also a ValueError: what huey's ``ConsumerConfig.validate()`` raises.
    """


class TaskLockedException(HueyException):
    """A task lock could not be acquired."""


class ResultTimeout(HueyException):
    """A blocking result read timed out before the result was ready."""


class TaskTimeout(HueyException):
    """A task ran longer than its ``timeout``."""


class RateLimitExceeded(HueyException):
    """A rate limit's window is full; ``delay`` seconds remain until the next window."""

    def __init__(self, key: str, delay: float, retry: bool = True) -> None:
        # args are (key, delay, retry) as in huey 3.5.4: stored errors hold the exception's repr.
        super().__init__(key, delay, retry)
        self.key = key
        self.delay = delay
        self.retry = retry

    def __str__(self) -> str:
        # huey 3.5.4's wording: a limit that retries says when.
        if self.retry:
            return f'Rate limit exceeded on "{self.key}", retry in {self.delay:.1f}s'
        return f'Rate limit exceeded on "{self.key}"'


class CancelExecution(HueyException):
    """Cancel a task, from a pre-execute hook or from the task body.

    ``retry`` (task body only): None applies the task's retry policy, True retries at least
    once, False never retries. Positional arguments are the message, as in
    ``CancelExecution('reason', retry=False)``.
    """

    def __init__(self, *args: Any, retry: bool | None = None) -> None:
        # The documented signature is CancelExecution(retry=None): a leading bool is ``retry``.
        if retry is None and args and isinstance(args[0], bool):
            retry, args = args[0], args[1:]
        super().__init__(*args)
        self.retry = retry


class RetryTask(HueyException):
    """Raised by a task to be retried, whatever its ``retries``; ``eta``/``delay`` set when."""

    def __init__(self, msg: str | None = None, eta: Any = None, delay: Any = None) -> None:
        super().__init__(*((msg,) if msg is not None else ()))
        self.eta = eta
        self.delay = delay


class TaskException(HueyException):
    """Raised when reading the result of a task that failed; ``metadata`` describes the error."""

    def __init__(self, metadata: dict[str, Any] | None = None, *args: Any) -> None:
        self.metadata = metadata or {}
        super().__init__(*args)

    def __str__(self) -> str:
        return str(self.metadata.get("error") or super().__str__())


class SerializationError(HueyException, TypeError):
    """A task's arguments, or a value, cannot be serialized; nothing was written."""


class MessageError(HueyException):
    """Data read from a storage is not a valid task message; ``data`` holds the raw bytes."""

    def __init__(self, reason: str, data: bytes | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data


class UnknownTaskError(MessageError):
    """A message names a task that is not registered with this Huey instance."""
