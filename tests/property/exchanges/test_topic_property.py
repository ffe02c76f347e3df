from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exchanges import TopicExchange

# A small alphabet so that random keys collide often; "" makes empty words.
ROUTING_WORDS = ["a", "b", "", "*", "#"]
BINDING_WORDS = ["a", "b", "", "*", "#", "#", "*"]


def reference_match(pattern: list[str], words: list[str]) -> bool:
    """Independent recursive matcher: '*' eats one word, '#' eats any number."""
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(reference_match(rest, words[skip:]) for skip in range(len(words) + 1))
    if not words:
        return False
    return head in ("*", words[0]) and reference_match(rest, words[1:])


def as_key(words: list[str]) -> tuple[str, list[str]]:
    """The key text and its word list ([""] is the empty key: zero words, not one)."""
    key = ".".join(words)
    return key, (words if key else [])


def literal(word: str) -> bool:
    return word not in ("*", "#")


binding_words = st.lists(st.sampled_from(BINDING_WORDS), max_size=5)
routing_words = st.lists(st.sampled_from(ROUTING_WORDS).filter(literal), max_size=6)


@settings(max_examples=300)
@given(st.lists(binding_words, max_size=12), routing_words)
def test_trie_routes_like_reference_matcher(patterns: list[list[str]], message: list[str]) -> None:
    exchange: TopicExchange[str] = TopicExchange()
    expected: set[str] = set()
    routing_key, message_words = as_key(message)
    for pattern in patterns:
        key, pattern_words = as_key(pattern)
        exchange.bind(key, key)
        if reference_match(pattern_words, message_words):
            expected.add(key)
    assert exchange.route(routing_key) == expected


@settings(max_examples=200)
@given(binding_words, st.lists(st.sampled_from(ROUTING_WORDS), max_size=6))
def test_wildcards_in_routing_key_are_plain_words(pattern: list[str], message: list[str]) -> None:
    # the reference only treats the pattern's words as wildcards, never the message's
    exchange: TopicExchange[str] = TopicExchange()
    key, pattern_words = as_key(pattern)
    routing_key, message_words = as_key(message)
    exchange.bind("q", key)
    assert (exchange.route(routing_key) == {"q"}) == reference_match(pattern_words, message_words)


@given(st.lists(st.sampled_from(["a", "", "*"]), max_size=4), st.integers(1, 4))
def test_repeated_hash_equals_single_hash(words: list[str], repeats: int) -> None:
    single: TopicExchange[str] = TopicExchange()
    many: TopicExchange[str] = TopicExchange()
    single.bind("q", as_key([*words, "#"])[0])
    many.bind("q", as_key([*words, *["#"] * repeats])[0])
    for length in range(5):
        routing_key = ".".join(["a"] * length)
        assert single.route(routing_key) == many.route(routing_key)


ARGUMENT_CHOICES: dict[str, dict[str, object] | None] = {
    "none": None,
    "empty": {},
    "one": {"n": 1},
    "true": {"n": True},
}
# None and {} are the same binding
CANONICAL = {"none": "none", "empty": "none", "one": "one", "true": "true"}


class TopicBindings(RuleBasedStateMachine):
    """Random bind/unbind/unbind_destination sequences against a plain ordered model."""

    def __init__(self) -> None:
        super().__init__()
        self.exchange: TopicExchange[str] = TopicExchange()
        # (destination, key, canonical argument label) in insertion order
        self.model: dict[tuple[str, str, str], list[str]] = {}

    @rule(
        destination=st.sampled_from(["q1", "q2", "q3"]),
        pattern=binding_words,
        label=st.sampled_from(sorted(ARGUMENT_CHOICES)),
    )
    def bind(self, destination: str, pattern: list[str], label: str) -> None:
        key, words = as_key(pattern)
        identity = (destination, key, CANONICAL[label])
        is_new = identity not in self.model
        assert self.exchange.bind(destination, key, ARGUMENT_CHOICES[label]) == is_new
        if is_new:
            self.model[identity] = words

    @rule(data=st.data(), label=st.sampled_from(sorted(ARGUMENT_CHOICES)))
    def unbind_existing(self, data: st.DataObject, label: str) -> None:
        if not self.model:
            return
        # an existing (destination, key) with possibly different arguments
        destination, key, _ = data.draw(st.sampled_from(list(self.model)))
        identity = (destination, key, CANONICAL[label])
        existed = identity in self.model
        assert self.exchange.unbind(destination, key, ARGUMENT_CHOICES[label]) == existed
        self.model.pop(identity, None)

    @rule(destination=st.sampled_from(["q1", "q2", "q3"]), pattern=binding_words)
    def unbind_maybe_missing(self, destination: str, pattern: list[str]) -> None:
        key, _ = as_key(pattern)
        existed = (destination, key, "none") in self.model
        assert self.exchange.unbind(destination, key) == existed
        self.model.pop((destination, key, "none"), None)

    @rule(destination=st.sampled_from(["q1", "q2", "q3"]))
    def unbind_destination(self, destination: str) -> None:
        gone = [identity for identity in self.model if identity[0] == destination]
        assert self.exchange.unbind_destination(destination) == len(gone)
        for identity in gone:
            del self.model[identity]

    @rule(message=routing_words)
    def route(self, message: list[str]) -> None:
        routing_key, words = as_key(message)
        expected = {
            destination
            for (destination, _, _), pattern in self.model.items()
            if reference_match(pattern, words)
        }
        assert self.exchange.route(routing_key) == expected

    @invariant()
    def bindings_match_model(self) -> None:
        # repr() so that {"n": True} and {"n": 1} do not compare equal
        listed = [
            (b.destination, b.routing_key, repr(b.arguments_dict()))
            for b in self.exchange.bindings()
        ]
        expected = [
            (destination, key, repr(ARGUMENT_CHOICES[label] or {}))
            for destination, key, label in self.model
        ]
        assert listed == expected
        assert len(self.exchange) == len(self.model)
        assert self.exchange.has_bindings() == bool(self.model)

    def teardown(self) -> None:
        for destination, key, label in list(self.model):
            assert self.exchange.unbind(destination, key, ARGUMENT_CHOICES[label])
        assert self.exchange._node_count() == 1
        assert not self.exchange.has_bindings()


TopicBindings.TestCase.settings = settings(max_examples=150, stateful_step_count=40)
test_topic_bindings_state_machine = TopicBindings.TestCase
