"""A user's script: everything it does with greeter must type-check under
``mypy --strict --disallow-any-expr`` with no casts (tests/test_typing.py checks it),
so no ``Any`` from generated or grpc code leaks through the public API.

It also runs (tests/test_typing.py runs it), so it cannot drift from the real API.
"""

from __future__ import annotations

import greeter
from greeter import GreeterClient, GreeterService, ServerConfig, StatusCode


class Polite(GreeterService):
    def say_hello(self, name: str) -> str:
        user_agent = dict(self.context.invocation_metadata).get("user-agent", "")
        remaining: float | None = self.context.time_remaining()
        peer: str = self.context.peer
        self.context.set_trailing_metadata([("x-seen-by", "polite")])
        if not name:
            raise greeter.InvalidArgument("name must not be empty")
        return f"Good day, {name} ({peer != ''}, {remaining is not None}, {bool(user_agent)})"


def main() -> None:
    config = ServerConfig(max_workers=4, grace_seconds=1.0, compression="gzip")
    with Polite().start("127.0.0.1:0", config=config) as server:
        port: int = server.port
        with GreeterClient(
            server.target, timeout=5.0, metadata=[("x-app", "typing")], compression="gzip"
        ) as client:
            reply: str = client.greet("you", timeout=2.0, metadata=[("x-trace-bin", b"\x01")])
            again: str = client.greet_again("you", wait_for_ready=True)
            try:
                client.greet("")
            except greeter.GreeterError as error:
                code: StatusCode = error.code
                details: str = error.details
                trailing: greeter.MetadataTuple = error.trailing_metadata
                print(code.name, details, ("x-seen-by", "polite") in trailing)
        print(port > 0, reply, again)


if __name__ == "__main__":
    main()
