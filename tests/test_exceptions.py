"""Every gRPC status code round-trips as its own exception class."""

from __future__ import annotations

import grpc
import pytest

import greeter
from greeter import GreeterClient, GreeterError, GreeterService, StatusCode
from tests.conftest import LOOPBACK

ERROR_CLASSES = GreeterError.__subclasses__()


def test_every_non_ok_status_code_has_exactly_one_exception_class() -> None:
    codes = sorted(cls.code for cls in ERROR_CLASSES)
    assert codes == [code for code in StatusCode if code is not StatusCode.OK]


def test_every_exception_class_is_exported_from_the_package() -> None:
    for cls in ERROR_CLASSES:
        assert getattr(greeter, cls.__name__) is cls
        assert cls.__name__ in greeter.__all__


@pytest.mark.parametrize("code", list(grpc.StatusCode))
def test_status_codes_convert_to_and_from_grpc(code: grpc.StatusCode) -> None:
    ours = StatusCode.from_grpc(code)
    assert ours.name == code.name
    assert ours.to_grpc() is code


def test_errors_print_their_status_and_details() -> None:
    assert str(greeter.NotFound("no such name")) == "NOT_FOUND: no such name"
    assert str(greeter.Unavailable()) == "UNAVAILABLE"


@pytest.mark.parametrize("error_class", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_an_error_raised_by_the_service_reaches_the_client_as_the_same_class(
    error_class: type[GreeterError],
) -> None:
    class Failing(GreeterService):
        def say_hello(self, name: str) -> str:
            raise error_class(f"{name} failed on purpose")

    with Failing().start(LOOPBACK) as server, GreeterClient(server.target) as client:
        with pytest.raises(GreeterError) as caught:
            client.greet("call")
    assert type(caught.value) is error_class
    assert caught.value.code is error_class.code
    assert caught.value.details == "call failed on purpose"
