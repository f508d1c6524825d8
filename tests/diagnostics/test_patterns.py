from mmc.diagnostics.patterns import all_patterns


def test_four_modalities_have_fifteen_patterns():
    pats = all_patterns(["a", "b", "c", "d"])
    assert len(pats) == 15 and len(set(pats)) == 15
    assert ("a",) in pats and ("a", "b", "c", "d") in pats
