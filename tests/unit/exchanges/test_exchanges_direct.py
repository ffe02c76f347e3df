from exchanges import DirectExchange


def test_direct_routes_exact_key_only() -> None:
    exchange: DirectExchange[str] = DirectExchange()
    exchange.bind("q1", "a.b")
    exchange.bind("q2", "a")
    assert exchange.route("a.b") == {"q1"}
    assert exchange.route("a") == {"q2"}
    assert exchange.route("A") == set()
    assert exchange.route("a.*") == set()


def test_direct_empty_key_is_an_ordinary_key() -> None:
    exchange: DirectExchange[str] = DirectExchange()
    exchange.bind("q", "")
    assert exchange.route("") == {"q"}
    assert exchange.route("x") == set()


def test_direct_several_destinations_on_one_key() -> None:
    exchange: DirectExchange[str] = DirectExchange()
    exchange.bind("q1", "k")
    exchange.bind("q2", "k")
    assert exchange.route("k") == {"q1", "q2"}


def test_bind_same_binding_twice_returns_false() -> None:
    exchange: DirectExchange[str] = DirectExchange()
    assert exchange.bind("q", "k") is True
    assert exchange.bind("q", "k") is False
    assert exchange.bind("q", "k", {}) is False
    assert len(exchange) == 1


def test_direct_arguments_are_identity_but_not_routing() -> None:
    exchange: DirectExchange[str] = DirectExchange()
    assert exchange.bind("q", "k", {"a": 1})
    assert exchange.bind("q", "k", {"a": True})
    assert exchange.bind("q", "k")
    assert len(exchange) == 3
    assert exchange.route("k") == {"q"}
    assert exchange.unbind("q", "k", {"a": 1})
    assert exchange.unbind("q", "k")
    assert exchange.route("k") == {"q"}
    assert exchange.unbind("q", "k", {"a": True})
    assert exchange.route("k") == set()


def test_direct_unbind_missing_returns_false() -> None:
    exchange: DirectExchange[str] = DirectExchange()
    exchange.bind("q", "k")
    assert exchange.unbind("q", "other") is False
    assert exchange.unbind("other", "k") is False
    assert exchange.unbind("q", "k", {"a": 1}) is False
    assert exchange.unbind("q", "k") is True
    assert exchange.unbind("q", "k") is False
    assert not exchange.has_bindings()


def test_direct_unbind_destination_removes_all_its_bindings() -> None:
    exchange: DirectExchange[tuple[str, str]] = DirectExchange()
    queue = ("queue", "q")
    other = ("queue", "other")
    exchange.bind(queue, "a")
    exchange.bind(queue, "b")
    exchange.bind(queue, "b", {"x": 1})
    exchange.bind(other, "a")
    assert exchange.unbind_destination(queue) == 3
    assert exchange.unbind_destination(queue) == 0
    assert exchange.route("a") == {other}
    assert exchange.route("b") == set()
    assert len(exchange) == 1


def test_direct_bindings_listed_in_insertion_order() -> None:
    exchange: DirectExchange[str] = DirectExchange()
    exchange.bind("q2", "b")
    exchange.bind("q1", "a", {"z": 1})
    exchange.bind("q3", "c")
    exchange.unbind("q2", "b")
    exchange.bind("q2", "b")
    listed = [(b.destination, b.routing_key, b.arguments_dict()) for b in exchange.bindings()]
    assert listed == [("q1", "a", {"z": 1}), ("q3", "c", {}), ("q2", "b", {})]


def test_direct_ignores_headers() -> None:
    exchange: DirectExchange[str] = DirectExchange()
    exchange.bind("q", "k", {"h": 1})
    assert exchange.route("k", {"h": 2}) == {"q"}
    assert exchange.route("j", {"h": 1}) == set()


def test_direct_route_result_is_a_fresh_set() -> None:
    exchange: DirectExchange[str] = DirectExchange()
    exchange.bind("q", "k")
    exchange.route("k").add("intruder")
    assert exchange.route("k") == {"q"}
