"""``kamtool uacreg reload``'s hint about reg_gc_interval only when Kamailio refused for
it (QA of the CLI): against a Kamailio without the uac module, "Method Not Found" came
with "Kamailio allows one uac.reg_reload per reg_gc_interval (150 s)", which sent the
operator waiting for nothing."""

from __future__ import annotations

from typing import Any

import pytest

from kamtool.core.runtime import uac
from kamtool.errors import RpcError


class _Refusing:
    """An RPC endpoint that answers every call with one error."""

    def __init__(self, code: int, message: str) -> None:
        self.code, self.message = code, message

    def call(self, method: str, *params: Any) -> Any:
        raise RpcError(self.code, f"{method}: {self.message} (code {self.code})")


def test_method_not_found_has_no_interval_hint() -> None:
    with pytest.raises(RpcError) as caught:
        uac.reload(_Refusing(500, "Method Not Found"))  # type: ignore[arg-type]
    assert caught.value.hint is None


def test_a_refused_shift_names_the_interval() -> None:
    rpc = _Refusing(500, "Failed to shift records - check log messages")
    with pytest.raises(RpcError) as caught:
        uac.reload(rpc)  # type: ignore[arg-type]
    assert caught.value.hint and "reg_gc_interval" in caught.value.hint
