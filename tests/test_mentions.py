from transforms.entities.mentions import clean_span, core_name, refine, resolve_aliases, vote_labels


def span(text, sub, label="PERSON"):
    s = text.index(sub)
    out = clean_span(text, s, s + len(sub), label)
    return None if out is None else text[out[0]:out[1]]


def test_clean_span():
    t = "The reporter from the Al Jazeera's desk met President Joe Biden that day and the state."
    assert span(t, "the Al Jazeera's", "ORG") == "Al Jazeera"
    assert span(t, "President Joe Biden that", "PERSON") == "Joe Biden"
    assert span(t, "state", "ORG") is None
    assert span("“Kyiv,” he said", "“Kyiv,”", "GPE") == "Kyiv"
    assert span("in the U.S. today", "the U.S.", "GPE") == "U.S."
    assert span("said Ms Pugh", "Ms Pugh", "ORG") == "Pugh"


def test_honorific_makes_a_person():
    text = "Ms Pugh said so."
    entities, _ = refine(text, [(0, 7, "ORG")])
    assert [(e.text, e.label) for e in entities] == [("Pugh", "PERSON")]
    assert span("the 1990s were", "the 1990s", "DATE") == "the 1990s"  # not a name: untouched


def test_core_name_drops_titles_and_doubled_spaces():
    assert core_name("Mr  Biden") == "Biden"
    assert core_name("President Xi Jinping") == "Xi Jinping"
    assert core_name("Mr") == "Mr"


def test_aliases_resolve_to_the_full_name_in_the_article():
    mentions = [("Joe Biden", "PERSON"), ("Biden", "PERSON"), ("Mr Biden", "PERSON"),
                ("President Biden", "PERSON"), ("Xi Jinping", "PERSON"), ("Xi", "PERSON"),
                ("Biden", "ORG"), ("Blinken", "PERSON"), ("Beijing", "GPE")]
    assert resolve_aliases(mentions) == ["Joe Biden", "Joe Biden", "Joe Biden", "Joe Biden",
                                         "Xi Jinping", "Xi Jinping", "Joe Biden", "Blinken", "Beijing"]


def test_ambiguous_part_goes_to_the_most_mentioned_full_name():
    mentions = [("Hunter Biden", "PERSON"), ("Joe Biden", "PERSON"), ("Joe Biden", "PERSON"), ("Biden", "PERSON")]
    assert resolve_aliases(mentions)[-1] == "Joe Biden"


def test_label_vote_by_majority_of_the_canonical_entity():
    assert vote_labels(["Kyiv", "Kyiv", "Kyiv"], ["GPE", "PERSON", "GPE"]) == {"Kyiv": "GPE"}
    assert vote_labels(["X", "X"], ["ORG", "PERSON"]) == {"X": "PERSON"}  # tie: PERSON first


def test_refine_keeps_offsets_exact_and_counts():
    text = "Joe Biden spoke. Then Biden's aide and the Kyiv office. Kyiv agreed with Kyiv."
    raw = []
    for sub, label, nth in (("Joe Biden", "PERSON", 0), ("Biden's", "ORG", 0),
                            ("the Kyiv", "PERSON", 0), ("Kyiv", "GPE", 1), ("Kyiv", "GPE", 2)):
        s = -1
        for _ in range(nth + 1):
            s = text.index(sub, s + 1)
        raw.append((s, s + len(sub), label))
    entities, counts = refine(text, raw)
    assert [(e.text, e.canonical, e.label) for e in entities] == [
        ("Joe Biden", "Joe Biden", "PERSON"), ("Biden", "Joe Biden", "PERSON"),
        ("Kyiv", "Kyiv", "GPE"), ("Kyiv", "Kyiv", "GPE"), ("Kyiv", "Kyiv", "GPE")]
    assert all(text[e.start_char:e.end_char] == e.text for e in entities)
    assert [(c.canonical, c.label, c.count) for c in counts] == [("Kyiv", "GPE", 3), ("Joe Biden", "PERSON", 2)]


def test_one_spelling_per_country_and_acronym_whatever_the_article():
    from transforms.entities.mentions import standard_name
    for spelling in ("US", "U.S.", "USA", "United States", "united states", "United States of America"):
        assert standard_name(spelling, "GPE") == "United States"
    assert standard_name("U.K.", "GPE") == standard_name("UK", "GPE") == "UK"  # ISO's code is GB
    assert standard_name("Iran, Islamic Republic of", "GPE") == "Iran"  # ISO's common name
    assert standard_name("U.N.", "ORG") == "UN" and standard_name("E.U.", "ORG") == "EU"
    # names ISO does not know, and other labels, stay as they are
    assert standard_name("Russia", "GPE") == "Russia" and standard_name("Kyiv", "GPE") == "Kyiv"
    assert standard_name("Jordan", "PERSON") == "Jordan" and standard_name("US", "ORG") == "US"
    # and it is what the article's canonical names use
    text = "The U.S. and the US Senate: U.S. officials met in the United States."
    entities, counts = refine(text, [(4, 8, "GPE"), (17, 19, "GPE"), (28, 32, "GPE"), (50, 67, "GPE")])  # "the United States"
    assert {e.canonical for e in entities} == {"United States"}
    assert [e.text for e in entities] == ["U.S.", "US", "U.S.", "United States"]
    assert all(text[e.start_char:e.end_char] == e.text for e in entities)  # offsets untouched
    assert [(c.canonical, c.count) for c in counts] == [("United States", 4)]
