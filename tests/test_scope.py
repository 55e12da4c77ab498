import pytest
from lanprobe.errors import ScopeError
from lanprobe.scope import Scope


def test_lab_network_is_in_scope() -> None:
    scope = Scope.build(["198.18.0.0/24"], ["plab0"], lab=True)
    assert scope.contains("198.18.0.10")
    assert scope.check("198.18.0.254") == "198.18.0.254"
    assert not scope.contains("198.18.1.10")


@pytest.mark.parametrize("addr", ["10.0.0.1", "192.168.1.1", "8.8.8.8", "127.0.0.1", "::1"])
def test_outside_addresses_are_refused(addr: str) -> None:
    scope = Scope.build(["198.18.0.0/24"])
    with pytest.raises(ScopeError, match="outside the scan scope"):
        scope.check(addr)


def test_names_are_never_resolved() -> None:
    scope = Scope.build(["198.18.0.0/24"])
    assert not scope.contains("camera.local")
    with pytest.raises(ScopeError):
        scope.check("localhost")


def test_public_network_needs_explicit_flag() -> None:
    with pytest.raises(ScopeError, match="public network"):
        Scope.build(["8.8.8.0/24"])
    scope = Scope.build(["8.8.8.0/24"], allow_public=True)
    assert scope.contains("8.8.8.8")


def test_bad_cidr_and_empty_scope_are_errors() -> None:
    with pytest.raises(ScopeError, match="not a network"):
        Scope.build(["198.18.0.0/33"])
    with pytest.raises(ScopeError, match="empty scope"):
        Scope.build([])
    with pytest.raises(ScopeError, match="too large"):
        Scope.build(["10.0.0.0/8"])


def test_hosts_skip_excluded_and_network_address() -> None:
    scope = Scope.build(["198.18.0.0/29"], exclude=["198.18.0.1"])
    assert scope.hosts() == [f"198.18.0.{i}" for i in range(2, 7)]
    assert not scope.contains("198.18.0.1")
