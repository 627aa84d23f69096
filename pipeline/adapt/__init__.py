"""Learning from reviewed letters: training examples, the practice lexicon, an adapted recognizer.

Only this package imports torch and transformers (the optional `dictee[adapt]` extra), and
only in the modules that train or convert models.
"""
