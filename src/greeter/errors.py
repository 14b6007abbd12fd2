"""Status codes and the exception hierarchy (public as ``greeter.errors``).

Every failed call surfaces as one exception type per gRPC status code, and a service
method returns a status by raising the same types. The tree::

    GreeterError                  any call that ended with a non-OK status
     ├── Cancelled                CANCELLED (1)
     ├── Unknown                  UNKNOWN (2)
     ├── InvalidArgument          INVALID_ARGUMENT (3)
     ├── DeadlineExceeded         DEADLINE_EXCEEDED (4)
     ├── NotFound                 NOT_FOUND (5)
     ├── AlreadyExists            ALREADY_EXISTS (6)
     ├── PermissionDenied         PERMISSION_DENIED (7)
     ├── ResourceExhausted        RESOURCE_EXHAUSTED (8)
     ├── FailedPrecondition       FAILED_PRECONDITION (9)
     ├── Aborted                  ABORTED (10)
     ├── OutOfRange               OUT_OF_RANGE (11)
     ├── Unimplemented            UNIMPLEMENTED (12)
     ├── Internal                 INTERNAL (13)
     ├── Unavailable              UNAVAILABLE (14)
     ├── DataLoss                 DATA_LOSS (15)
     └── Unauthenticated          UNAUTHENTICATED (16)

Catch them as ``greeter.NotFound`` or ``greeter.errors.NotFound``: the same class. This
module is public so that an error prints in a traceback as ``greeter.errors.NotFound``
while ``inspect`` and ``typing.get_type_hints`` still find where it is defined.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, TypeVar

import grpc
import grpc.aio

from greeter._metadata import Metadata, MetadataTuple, metadata_from_grpc, normalize_metadata
from greeter._public import PUBLIC

if TYPE_CHECKING:
    from google.protobuf import any_pb2
    from google.protobuf.message import Message

# The rich-status modules (greeter's ``status_pb2``, ``google.protobuf.any_pb2``) are
# imported where an error carries rich details, not by ``import greeter``: most programs
# never send or receive one, and they cost more to import than the rest. The status is
# greeter's own ``greeter.rpc.Status``, the same fields as ``google.rpc.Status``, so
# neither googleapis-common-protos nor grpcio-status is needed (see status.proto).

# The names greeter's one table of public names gives this module (greeter._public).
# Type checkers, which need a literal list, take the public names defined here instead.
if not TYPE_CHECKING:
    __all__ = list(PUBLIC["greeter.errors"])


class StatusCode(enum.IntEnum):
    """The gRPC status codes, with the numbers they have on the wire."""

    #: Not an error; returned on success.
    OK = 0
    #: The operation was cancelled, typically by the caller.
    CANCELLED = 1
    #: Unknown error, e.g. an error raised by an API that returns too little information.
    UNKNOWN = 2
    #: The client specified an invalid argument, whatever the state of the system.
    INVALID_ARGUMENT = 3
    #: The deadline expired before the operation could complete.
    DEADLINE_EXCEEDED = 4
    #: Some requested entity was not found.
    NOT_FOUND = 5
    #: The entity that a client attempted to create already exists.
    ALREADY_EXISTS = 6
    #: The caller does not have permission to execute the operation.
    PERMISSION_DENIED = 7
    #: Some resource has been exhausted (a quota, a message size limit, ...).
    RESOURCE_EXHAUSTED = 8
    #: The system is not in a state required for the operation's execution.
    FAILED_PRECONDITION = 9
    #: The operation was aborted, typically by a concurrency issue.
    ABORTED = 10
    #: The operation was attempted past the valid range.
    OUT_OF_RANGE = 11
    #: The operation is not implemented or not supported by this service.
    UNIMPLEMENTED = 12
    #: An invariant expected by the system is broken: a server-side bug.
    INTERNAL = 13
    #: The service is currently unavailable; usually transient, retry with backoff.
    UNAVAILABLE = 14
    #: Unrecoverable data loss or corruption.
    DATA_LOSS = 15
    #: The request does not have valid authentication credentials.
    UNAUTHENTICATED = 16

    @classmethod
    def from_grpc(cls, code: grpc.StatusCode) -> StatusCode:
        """The member for a ``grpc.StatusCode``."""
        number: int = code.value[0]
        return cls(number)

    def to_grpc(self) -> grpc.StatusCode:
        """The matching ``grpc.StatusCode``."""
        return _TO_GRPC[self]


_TO_GRPC = {StatusCode(code.value[0]): code for code in grpc.StatusCode}

_Detail = TypeVar("_Detail", bound="Message")

#: The trailing metadata key that carries a serialized ``google.rpc.Status``.
RICH_STATUS_KEY = "grpc-status-details-bin"
#: What the client sees when a service method or a hook fails with anything but a
#: ``GreeterError``: the exception's own text stays in the server's log.
INTERNAL_ERROR_DETAILS = "Internal server error"


class GreeterError(Exception):
    """A call that ended with a non-OK gRPC status.

    The client raises the subclass for the status it received; a service method raises
    one to end its call with that status::

        raise greeter.NotFound("no greeting for that name")

    Rich error details (the ``google.rpc.Status`` model, as grpc's status packages send
    it) travel too: pass protobuf messages, such as those of ``google.rpc.error_details_pb2``
    (from googleapis-common-protos, which greeter does not need itself),
    as ``error_details``; the receiving side reads them with ``details_of_type``::

        raise greeter.InvalidArgument(
            "bad name", error_details=[BadRequest(field_violations=[...])]
        )
        ...
        except greeter.InvalidArgument as error:
            for bad_request in error.details_of_type(BadRequest): ...

    Attributes:
        code: the status code (each subclass fixes its own).
        details: the human-readable status message sent with the code.
        trailing_metadata: trailing metadata sent with the status.
        error_details: the rich error details, each packed in a ``google.protobuf.Any``.
    """

    code: ClassVar[StatusCode] = StatusCode.UNKNOWN

    def __init__(
        self,
        details: str = "",
        *,
        trailing_metadata: Metadata = (),
        error_details: Sequence[Message] = (),
    ) -> None:
        super().__init__(details)
        self.details = details
        self.trailing_metadata: MetadataTuple = normalize_metadata(trailing_metadata)
        self.error_details: tuple[any_pb2.Any, ...] = tuple(map(_packed, error_details))

    def details_of_type(self, detail_type: type[_Detail]) -> list[_Detail]:
        """The rich error details of one message type, unpacked (``[]`` if none)."""
        found = []
        for packed in self.error_details:
            detail = detail_type()
            if packed.Unpack(detail):  # False when the packed type is another one
                found.append(detail)
        return found

    def to_trailing_metadata(self) -> MetadataTuple:
        """The trailing metadata to send: the user's, plus the rich status if any."""
        if not self.error_details:
            return self.trailing_metadata
        from greeter._proto.status_pb2 import Status

        status = Status(code=self.code, message=self.details, details=self.error_details)
        return (*self.trailing_metadata, (RICH_STATUS_KEY, status.SerializeToString()))

    def __str__(self) -> str:
        return f"{self.code.name}: {self.details}" if self.details else self.code.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.details!r})"


class Cancelled(GreeterError):
    """CANCELLED: the call was cancelled, typically by the caller."""

    code = StatusCode.CANCELLED


class Unknown(GreeterError):
    """UNKNOWN: an error with no more specific status."""

    code = StatusCode.UNKNOWN


class InvalidArgument(GreeterError):
    """INVALID_ARGUMENT: the request itself is wrong."""

    code = StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(GreeterError):
    """DEADLINE_EXCEEDED: the deadline (``timeout=``) expired before the call completed."""

    code = StatusCode.DEADLINE_EXCEEDED


class NotFound(GreeterError):
    """NOT_FOUND: a requested entity was not found."""

    code = StatusCode.NOT_FOUND


class AlreadyExists(GreeterError):
    """ALREADY_EXISTS: the entity the call tried to create already exists."""

    code = StatusCode.ALREADY_EXISTS


class PermissionDenied(GreeterError):
    """PERMISSION_DENIED: the caller may not do this."""

    code = StatusCode.PERMISSION_DENIED


class ResourceExhausted(GreeterError):
    """RESOURCE_EXHAUSTED: a quota or limit (such as the message size) was exceeded."""

    code = StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(GreeterError):
    """FAILED_PRECONDITION: the system is not in the state the call needs."""

    code = StatusCode.FAILED_PRECONDITION


class Aborted(GreeterError):
    """ABORTED: the call was aborted, typically by a concurrency conflict."""

    code = StatusCode.ABORTED


class OutOfRange(GreeterError):
    """OUT_OF_RANGE: the call went past the valid range."""

    code = StatusCode.OUT_OF_RANGE


class Unimplemented(GreeterError):
    """UNIMPLEMENTED: the server does not implement this RPC."""

    code = StatusCode.UNIMPLEMENTED


class Internal(GreeterError):
    """INTERNAL: the server broke an invariant (a bug, or an unexpected exception)."""

    code = StatusCode.INTERNAL


class Unavailable(GreeterError):
    """UNAVAILABLE: the server cannot be reached or is shutting down; retry with backoff."""

    code = StatusCode.UNAVAILABLE


class DataLoss(GreeterError):
    """DATA_LOSS: unrecoverable data loss or corruption."""

    code = StatusCode.DATA_LOSS


class Unauthenticated(GreeterError):
    """UNAUTHENTICATED: the call lacks valid credentials."""

    code = StatusCode.UNAUTHENTICATED


_ERROR_FOR_CODE: dict[StatusCode, type[GreeterError]] = {
    cls.code: cls for cls in GreeterError.__subclasses__()
}


def _packed(detail: Message) -> any_pb2.Any:
    from google.protobuf import any_pb2

    if isinstance(detail, any_pb2.Any):
        return detail
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def error_for_status(
    code: StatusCode,
    details: str,
    trailing_metadata: Metadata = (),
    error_details: Sequence[Message] = (),
) -> GreeterError:
    """Build the exception for a non-OK status received from a peer."""
    error = _ERROR_FOR_CODE.get(code, Unknown)(details, error_details=error_details)
    # Received metadata is kept as it came: the checks on metadata to send (such as
    # refusing gRPC's own "grpc-" keys) must not turn a peer's status into a ValueError.
    error.trailing_metadata = metadata_from_grpc(trailing_metadata)
    return error


def error_from_grpc(exc: grpc.RpcError) -> GreeterError:
    """The library's exception for a failed call reported by grpcio (sync or asyncio)."""
    if not isinstance(exc, grpc.aio.AioRpcError | grpc.Call):
        return Unknown(str(exc))  # grpcio raises call objects; anything else carries no status
    trailing = metadata_from_grpc(exc.trailing_metadata())
    code, details = StatusCode.from_grpc(exc.code()), exc.details() or ""
    return error_for_status(
        code,
        details,
        tuple(item for item in trailing if item[0] != RICH_STATUS_KEY),
        _rich_details(code, details, trailing),
    )


def _rich_details(code: StatusCode, details: str, trailing_metadata: Metadata) -> list[any_pb2.Any]:
    """The rich error details in ``trailing_metadata`` (a serialized ``google.rpc.Status``).

    A rich status that does not parse, or that contradicts the call's own code or
    message, is ignored, as grpc's status package refuses it.
    """
    for key, value in trailing_metadata:
        if key != RICH_STATUS_KEY or not isinstance(value, bytes):
            continue
        from google.protobuf.message import DecodeError

        from greeter._proto.status_pb2 import Status

        try:
            status = Status.FromString(value)
        except DecodeError:
            return []
        if status.code != code or status.message != details:
            return []
        return list(status.details)
    return []
