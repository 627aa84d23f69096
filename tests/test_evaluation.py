from pipeline.evaluation import corpus_wer, word_errors


def test_word_errors_count_substitutions_insertions_and_deletions():
    assert word_errors("le chat dort", "Le chat dort.") == (0, 3)
    assert word_errors("le chat dort", "le chien dort bien") == (2, 3)
    assert word_errors("le chat dort", "chat") == (2, 3)


def test_corpus_wer_weights_by_reference_length():
    assert corpus_wer([("a b c d", "a b c d"), ("a b", "x y")]) == 2 / 6
