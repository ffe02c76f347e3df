from exchanges import FanoutExchange


def test_fanout_routes_to_every_destination_regardless_of_key() -> None:
    exchange: FanoutExchange[str] = FanoutExchange()
    exchange.bind("q1", "")
    exchange.bind("q2", "anything")
    assert exchange.route("") == {"q1", "q2"}
    assert exchange.route("other.key", {"h": 1}) == {"q1", "q2"}


def test_fanout_with_no_bindings_routes_nowhere() -> None:
    exchange: FanoutExchange[str] = FanoutExchange()
    assert exchange.route("k") == set()
    assert not exchange.has_bindings()
    assert len(exchange) == 0


def test_fanout_key_and_arguments_are_part_of_identity() -> None:
    exchange: FanoutExchange[str] = FanoutExchange()
    assert exchange.bind("q", "a")
    assert exchange.bind("q", "b")
    assert exchange.bind("q", "a", {"x": 1})
    assert not exchange.bind("q", "a")
    assert len(exchange) == 3
    assert exchange.route("") == {"q"}


def test_fanout_destination_stays_until_its_last_binding_goes() -> None:
    exchange: FanoutExchange[str] = FanoutExchange()
    exchange.bind("q", "a")
    exchange.bind("q", "b")
    assert exchange.unbind("q", "a")
    assert exchange.route("") == {"q"}
    assert exchange.unbind("q", "b")
    assert exchange.route("") == set()
    assert not exchange.unbind("q", "b")


def test_fanout_unbind_destination_counts_removed_bindings() -> None:
    exchange: FanoutExchange[str] = FanoutExchange()
    exchange.bind("q", "a")
    exchange.bind("q", "b")
    exchange.bind("keep", "a")
    assert exchange.unbind_destination("q") == 2
    assert exchange.unbind_destination("q") == 0
    assert exchange.route("") == {"keep"}
    assert [b.destination for b in exchange.bindings()] == ["keep"]
