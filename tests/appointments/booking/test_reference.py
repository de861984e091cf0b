"""A drawn reference: eight characters of the spoken alphabet, every character at every place."""

from __future__ import annotations

from collections import Counter

from appointments.booking import reference


def test_every_character_turns_up_at_every_place_of_a_drawn_reference():
    draws = [reference.new() for _ in range(4000)]
    assert all(len(d) == reference.STORED_LENGTH and set(d) <= set(reference.ALPHABET) for d in draws)
    for place in range(reference.STORED_LENGTH):
        seen = Counter(d[place] for d in draws)
        # 125 expected each; a character missing or a place stuck would be a biased cut of the bits
        assert set(seen) == set(reference.ALPHABET), f"place {place} never shows {set(reference.ALPHABET) - set(seen)}"
        assert min(seen.values()) > 50, f"place {place}: {seen.most_common()[-3:]}"
    assert len(set(draws)) == len(draws)
