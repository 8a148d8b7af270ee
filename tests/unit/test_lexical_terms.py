"""The words a query hands to the full-text retriever."""

from __future__ import annotations

from recalld.core.lexical import MAX_TERMS, lexical_terms


def test_question_words_and_function_words_are_dropped() -> None:
    assert lexical_terms("What book did Melanie read in May 2023?") == ["book", "melanie", "read", "may", "2023"]


def test_possessives_and_curly_apostrophes_fold_to_the_name() -> None:
    assert lexical_terms("Where is Caroline\u2019s dog Rex's vet?") == ["caroline", "dog", "rex", "vet"]


def test_numbers_and_single_digits_stay_single_letters_go() -> None:
    assert lexical_terms("Did she adopt 3 kids, a or b?") == ["adopt", "3", "kids"]


def test_each_term_once_in_order_and_bounded() -> None:
    assert lexical_terms("Boston boston BOSTON trip") == ["boston", "trip"]
    many = " ".join(f"word{i}" for i in range(40))
    assert lexical_terms(many) == [f"word{i}" for i in range(MAX_TERMS)]


def test_punctuation_only_or_stop_words_only_gives_nothing() -> None:
    assert lexical_terms("?!... -- ()") == []
    assert lexical_terms("What did you do?") == []
