import pytest

from exchanges import TopicExchange, split_words
from exchanges.topic import ROUTE_CACHE_SIZE


def routed(bindings: list[str], routing_key: str) -> set[str]:
    """Bind each key to a destination named after itself and route one message."""
    exchange: TopicExchange[str] = TopicExchange()
    for key in bindings:
        exchange.bind(key, key)
    return exchange.route(routing_key)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("", []),
        (".", ["", ""]),
        ("a", ["a"]),
        ("a.", ["a", ""]),
        (".a", ["", "a"]),
        ("a..b", ["a", "", "b"]),
        ("a.b.c", ["a", "b", "c"]),
    ],
)
def test_split_words_follows_rabbitmq(key: str, words: list[str]) -> None:
    assert split_words(key) == words


def test_topic_exact_words_match() -> None:
    assert routed(["a.b", "a.c"], "a.b") == {"a.b"}
    assert routed(["a.b"], "a.b.c") == set()
    assert routed(["a.b"], "a") == set()


def test_topic_empty_binding_matches_only_empty_routing_key() -> None:
    assert routed([""], "") == {""}
    assert routed([""], "a") == set()
    assert routed([""], ".") == set()


def test_topic_hash_matches_everything_including_empty_key() -> None:
    for key in ["", "a", ".", "a.b.c", "a..b"]:
        assert routed(["#"], key) == {"#"}


def test_topic_hash_matches_zero_words() -> None:
    assert routed(["a.#"], "a") == {"a.#"}
    assert routed(["#.a"], "a") == {"#.a"}
    assert routed(["a.#.b"], "a.b") == {"a.#.b"}


def test_topic_hash_matches_many_words() -> None:
    assert routed(["a.#"], "a.b.c") == {"a.#"}
    assert routed(["a.#.z"], "a.b.c.z") == {"a.#.z"}
    assert routed(["a.#"], "b.a") == set()


def test_topic_star_matches_exactly_one_word() -> None:
    assert routed(["*"], "a") == {"*"}
    assert routed(["*"], "") == set()
    assert routed(["*"], "a.b") == set()
    assert routed(["a.*"], "a") == set()
    assert routed(["a.*.c"], "a.b.c") == {"a.*.c"}


def test_topic_star_matches_an_empty_word() -> None:
    assert routed(["*"], "") == set()
    assert routed(["a.*"], "a.") == {"a.*"}
    assert routed(["*.*"], ".") == {"*.*"}
    assert routed(["a.*.b"], "a..b") == {"a.*.b"}


def test_topic_empty_words_are_ordinary_words() -> None:
    assert routed(["."], ".") == {"."}
    assert routed(["."], "") == set()
    assert routed(["a."], "a.") == {"a."}
    assert routed(["a."], "a") == set()
    assert routed(["a..b"], "a..b") == {"a..b"}
    assert routed(["a..b"], "a.b") == set()


def test_topic_double_hash_behaves_like_single_hash() -> None:
    for key in ["", "a", "a.b", "."]:
        assert routed(["#.#"], key) == {"#.#"}
    assert routed(["a.#.#.b"], "a.b") == {"a.#.#.b"}
    assert routed(["a.#.#.b"], "a.x.y.z.b") == {"a.#.#.b"}
    assert routed(["a.#.#.b"], "a.x.y.z") == set()


def test_topic_hash_star_needs_at_least_one_word() -> None:
    assert routed(["#.*"], "") == set()
    assert routed(["#.*"], "a") == {"#.*"}
    assert routed(["#.*"], "a.b.c") == {"#.*"}
    assert routed(["*.#"], "") == set()
    assert routed(["*.#"], "a") == {"*.#"}


def test_topic_wildcards_in_routing_key_are_literal_words() -> None:
    assert routed(["a.b"], "a.*") == set()
    assert routed(["a.*"], "a.*") == {"a.*"}
    assert routed(["#"], "#") == {"#"}
    assert routed(["a"], "#") == set()


def test_topic_destination_appears_once_for_many_matching_bindings() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    for key in ["#", "a.#", "*.b", "a.b", "#.#"]:
        exchange.bind("q", key)
    assert exchange.route("a.b") == {"q"}
    assert len(exchange) == 5


def test_topic_arguments_are_identity_not_routing() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    assert exchange.bind("q", "a.*", {"x": 1})
    assert exchange.bind("q", "a.*")
    assert not exchange.bind("q", "a.*", {"x": 1})
    assert exchange.unbind("q", "a.*")
    assert exchange.route("a.b") == {"q"}
    assert exchange.unbind("q", "a.*", {"x": 1})
    assert exchange.route("a.b") == set()
    assert exchange._node_count() == 1


def test_unbind_prunes_trie_to_root() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    keys = ["a.b.c", "a.b", "a.#.c", "#", "", ".", "a..", "*.*.*"]
    for key in keys:
        exchange.bind("q", key)
    assert exchange._node_count() > 1
    for key in keys:
        assert exchange.unbind("q", key)
    assert exchange._node_count() == 1
    assert not exchange.has_bindings()


def test_unbind_keeps_nodes_still_in_use() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    exchange.bind("q1", "a.b.c")
    exchange.bind("q2", "a")
    nodes = exchange._node_count()
    exchange.bind("q3", "a.b.c.d.e")
    exchange.unbind("q3", "a.b.c.d.e")
    assert exchange._node_count() == nodes
    exchange.unbind("q1", "a.b.c")
    assert exchange._node_count() == 2
    assert exchange.route("a") == {"q2"}


def test_unbind_missing_binding_returns_false_and_changes_nothing() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    exchange.bind("q", "a.b")
    nodes = exchange._node_count()
    assert not exchange.unbind("q", "a")
    assert not exchange.unbind("q", "a.b.c")
    assert not exchange.unbind("other", "a.b")
    assert exchange._node_count() == nodes
    assert exchange.route("a.b") == {"q"}


def test_topic_unbind_destination_prunes_trie() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    exchange.bind("q", "a.#")
    exchange.bind("q", "b.*", {"x": 1})
    exchange.bind("keep", "b.c")
    assert exchange.unbind_destination("q") == 2
    assert exchange.route("b.c") == {"keep"}
    assert exchange.route("a.x") == set()
    exchange.unbind("keep", "b.c")
    assert exchange._node_count() == 1


def test_topic_bindings_listed_in_insertion_order() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    for key in ["z", "a.#", "m.*"]:
        exchange.bind("q", key)
    assert [b.routing_key for b in exchange.bindings()] == ["z", "a.#", "m.*"]


def test_topic_many_hashes_route_quickly() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    exchange.bind("q", ".".join(["#"] * 30) + ".end")
    exchange.bind("never", ".".join(["#"] * 30) + ".nope")
    key = ".".join(["w"] * 200) + ".end"
    # without memoisation this explodes combinatorially
    assert exchange.route(key) == {"q"}


def test_topic_route_cost_does_not_grow_with_unrelated_bindings() -> None:
    exchange: TopicExchange[int] = TopicExchange()
    for n in range(20_000):
        exchange.bind(n, f"unrelated.{n}.#")
    exchange.bind(-1, "wanted.*")
    assert exchange.route("wanted.x") == {-1}


# Routes are remembered by routing key: every change of the bindings must be seen at once.


def test_topic_route_remembered_then_unbind_is_seen() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    exchange.bind("q", "a.*")
    assert exchange.route("a.b") == {"q"}
    exchange.unbind("q", "a.*")
    assert exchange.route("a.b") == set()


def test_topic_route_remembered_then_bind_is_seen() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    assert exchange.route("a.b") == set()
    exchange.bind("q", "#")
    assert exchange.route("a.b") == {"q"}
    exchange.bind("r", "a.b")
    assert exchange.route("a.b") == {"q", "r"}


def test_topic_route_remembered_then_unbind_destination_is_seen() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    exchange.bind("q", "a.#")
    exchange.bind("r", "*.b")
    assert exchange.route("a.b") == {"q", "r"}
    exchange.unbind_destination("q")
    assert exchange.route("a.b") == {"r"}


def test_topic_route_returns_a_set_the_caller_may_change() -> None:
    exchange: TopicExchange[str] = TopicExchange()
    exchange.bind("q", "a")
    exchange.route("a").add("intruder")
    assert exchange.route("a") == {"q"}


def test_topic_remembered_routes_are_bounded() -> None:
    exchange: TopicExchange[int] = TopicExchange()
    exchange.bind(1, "k.*")
    count = ROUTE_CACHE_SIZE + 10
    for n in range(count):
        assert exchange.route(f"k.{n}") == {1}
    assert len(exchange._routes) <= ROUTE_CACHE_SIZE
    # the keys remembered before the memory was emptied still route right
    assert exchange.route("k.0") == {1}
    assert exchange.route(f"k.{count}.x") == set()
