"""Text benchmark data: sentiment, acceptability and NLI sets (lists of strings or of (premise, hypothesis))."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._core import (
    Dataset,
    NLI_CLASSES,
    SENTIMENT_CLASSES,
    read_lines,
    require,
    _NLI_INDEX,
    _check_choice,
    _labels,
)


__all__ = ['load_glue_sst2', 'load_sst_sentences', 'substring_overlap', 'load_imdb_cad_sentiment', 'load_yelp_amazon', 'load_uci_sentiment', 'load_cola', 'load_mnli_dev_matched', 'load_sick', 'load_mrpc', 'load_snli_cad']

def load_glue_sst2(split: str = "train") -> Dataset:
    """GLUE SST-2 (``glue-sst2``): ``train`` (60,614), ``dev`` (6,735, a 10% re-split of GLUE train)
    or ``test`` (872 = the official GLUE dev set). Labels 0=negative, 1=positive."""
    _check_choice("split", split, ("train", "dev", "test"))
    path = require("glue-sst2", "data", "SST-2", f"{split}.tsv")
    X, y = [], []
    for line in read_lines(path)[1:]:
        sentence, label = line.rsplit("\t", 1)
        X.append(sentence.strip())
        y.append(int(label))
    return Dataset(X, _labels(y), SENTIMENT_CLASSES, f"glue-sst2/{split}", "GLUE SST-2 (lower-cased, PTB-tokenized)")


def load_sst_sentences(split: str = "test") -> Dataset:
    """SST-2 at the *sentence* level (``sst2-cr-mr``, Kim 2014's ``stsa.binary.*``): ``train`` (6,920),
    ``dev`` (872: the same sentences as GLUE SST-2 dev, i.e. this benchmark's ID test) or ``test`` (1,821,
    SST's test split with labels). GLUE SST-2's training set holds every *phrase* of SST's training
    sentences, so ``test`` is the split whose sentences GLUE-train does not contain: the benchmark's
    sentence-level validation set. Labels 0=negative, 1=positive."""
    _check_choice("split", split, ("train", "dev", "test"))
    X, y = [], []
    for line in read_lines(require("sst2-cr-mr", "data", f"stsa.binary.{split}")):
        label, text = line.split(" ", 1)
        X.append(text.strip())
        y.append(int(label))
    return Dataset(X, _labels(y), SENTIMENT_CLASSES, f"sst2-cr-mr/stsa.binary.{split}",
                   "SST-2 sentences (lower-cased, tokenized)")


def substring_overlap(items: Sequence[str], corpus: Sequence[str]) -> float:
    """Fraction of ``items`` that occur inside some string of ``corpus`` (whitespace-normalized,
    case-insensitive): how much of a held-out split a model trained on ``corpus`` has already seen."""
    joined = "\n".join(" ".join(c.lower().split()) for c in corpus)
    normal = [" ".join(i.lower().split()) for i in items]
    return float(np.mean([bool(n) and n in joined for n in normal])) if normal else 0.0


def load_imdb_cad_sentiment(split: str = "test", version: str = "orig") -> Dataset:
    """IMDB reviews from ``imdb-cad``: ``version="orig"`` (real reviews) or ``"new"`` (counterfactual
    rewrites); ``split`` in ``train``/``dev``/``test``/``all``. ``<br />`` tags are replaced by spaces;
    long reviews are truncated later by the encoder's maximum sequence length."""
    _check_choice("split", split, ("train", "dev", "test", "all"))
    _check_choice("version", version, ("orig", "new"))
    splits = ("train", "dev", "test") if split == "all" else (split,)
    X, y = [], []
    for part in splits:
        for line in read_lines(require("imdb-cad", "sentiment", version, f"{part}.tsv"))[1:]:
            label, text = line.split("\t", 1)
            X.append(" ".join(text.replace("<br />", " ").replace("<br/>", " ").split()))
            y.append(SENTIMENT_CLASSES.index(label.strip().lower()))
    return Dataset(X, _labels(y), SENTIMENT_CLASSES, f"imdb-cad/sentiment/{version}/{split}", "IMDB reviews (document level; <br /> removed)")


def load_yelp_amazon(domain: str, split: str = "test") -> Dataset:
    """Review sentences from ``yelp-amazon-sent``: ``domain`` in ``yelp``/``amazon``, ``split`` in
    ``dev``/``test``. The label is in the file name (``.0`` negative, ``.1`` positive)."""
    _check_choice("domain", domain, ("yelp", "amazon"))
    _check_choice("split", split, ("dev", "test"))
    X, y = [], []
    for label in (0, 1):
        for line in read_lines(require("yelp-amazon-sent", "data", domain, f"sentiment.{split}.{label}")):
            X.append(line.strip())
            y.append(label)
    return Dataset(X, _labels(y), SENTIMENT_CLASSES, f"yelp-amazon-sent/{domain}/{split}", f"{domain} review sentences (lower-cased, tokenized)")


def load_uci_sentiment(domain: str) -> Dataset:
    """UCI Sentiment Labelled Sentences (1,000 per domain): ``domain`` in ``yelp``/``amazon``/``imdb``."""
    files = {"yelp": "yelp_labelled.txt", "amazon": "amazon_cells_labelled.txt", "imdb": "imdb_labelled.txt"}
    _check_choice("domain", domain, tuple(files))
    X, y = [], []
    for line in read_lines(require("uci-sentiment-sentences", "sentiment labelled sentences", files[domain])):
        sentence, label = line.rsplit("\t", 1)  # split on the last tab: the imdb file has stray quotes
        X.append(sentence.strip())
        y.append(int(label))
    return Dataset(X, _labels(y), SENTIMENT_CLASSES, f"uci-sentiment/{domain}", f"UCI sentences ({domain})")


# --------------------------------------------------------------------------- text: acceptability


def load_cola(split: str = "in_domain_train") -> Dataset:
    """CoLA v1.1 raw: ``in_domain_train`` (8,551), ``in_domain_dev`` (527) or ``out_of_domain_dev``
    (516). Labels 0=unacceptable, 1=acceptable."""
    _check_choice("split", split, ("in_domain_train", "in_domain_dev", "out_of_domain_dev"))
    path = require("cola", "acceptability_corpus", "cola_public", "raw", f"{split}.tsv")
    X, y = [], []
    for line in read_lines(path):
        _source, label, _mark, sentence = line.split("\t", 3)
        X.append(sentence.strip())
        y.append(int(label))
    return Dataset(X, _labels(y), ("unacceptable", "acceptable"), f"cola/{split}", "CoLA raw sentences")


# --------------------------------------------------------------------------- text: NLI (pairs)


def _nli_label(value: str) -> int:
    return _NLI_INDEX[value.strip().lower()]


def load_mnli_dev_matched() -> Dataset:
    """MNLI dev-matched (9,815 (premise, hypothesis) pairs), labels in :data:`NLI_CLASSES` order."""
    path = require("mnli-dev-matched", "berts_of_a_feather", "mnli_development_set_number_of_correct_responses.txt")
    X, y = [], []
    for line in read_lines(path)[1:]:
        _index, premise, hypothesis, label, _n_correct = line.split("\t")
        X.append((premise.strip(), hypothesis.strip()))
        y.append(_nli_label(label))
    return Dataset(X, _labels(y), NLI_CLASSES, "mnli-dev-matched", "MNLI dev-matched pairs")


def load_sick(split: str = "test", target: str = "entailment") -> Dataset:
    """SICK (``sick-mrpc``): ``train`` (4,500), ``trial`` (500) or ``test`` (4,927) sentence pairs.

    ``target="entailment"``: labels mapped to :data:`NLI_CLASSES` (ENTAILMENT/NEUTRAL/CONTRADICTION);
    ``target="relatedness"``: the float relatedness scores (1-5) as ``y``, no classes.
    """
    files = {"train": "SICK_train.txt", "trial": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}
    _check_choice("split", split, tuple(files))
    _check_choice("target", target, ("entailment", "relatedness"))
    X, y = [], []
    for line in read_lines(require("sick-mrpc", files[split])):
        fields = line.split("\t")
        if fields[0] == "pair_ID":
            continue
        _pid, a, b, score, label = fields
        X.append((a.strip(), b.strip()))
        y.append(_nli_label(label) if target == "entailment" else float(score))
    if target == "relatedness":
        return Dataset(X, np.asarray(y), (), f"sick/{split}", "SICK sentence pairs, relatedness scores")
    return Dataset(X, _labels(y), NLI_CLASSES, f"sick/{split}", "SICK sentence pairs")


def load_mrpc(split: str = "test") -> Dataset:
    """MRPC (``sick-mrpc``) ``test`` pairs (1,725 news sentence pairs); ``y`` = 1 for a paraphrase."""
    _check_choice("split", split, ("test",))
    X, y = [], []
    for line in read_lines(require("sick-mrpc", "msr_paraphrase_test.txt")):
        label, _id1, _id2, a, b = line.split("\t")
        X.append((a.strip(), b.strip()))
        y.append(int(label))
    return Dataset(X, _labels(y), ("not paraphrase", "paraphrase"), "mrpc/test", "MRPC test pairs")


def load_snli_cad(split: str = "test", version: str = "original") -> Dataset:
    """The SNLI subset of ``imdb-cad``: ``version="original"`` or ``"revised_combined"``; ``split`` in
    ``train``/``dev``/``test``/``all``. Labels mapped to :data:`NLI_CLASSES`."""
    _check_choice("split", split, ("train", "dev", "test", "all"))
    _check_choice("version", version, ("original", "revised_combined"))
    splits = ("train", "dev", "test") if split == "all" else (split,)
    X, y = [], []
    for part in splits:
        for line in read_lines(require("imdb-cad", "NLI", version, f"{part}.tsv"))[1:]:
            premise, hypothesis, label = line.split("\t")
            X.append((premise.strip(), hypothesis.strip()))
            y.append(_nli_label(label))
    return Dataset(X, _labels(y), NLI_CLASSES, f"snli-cad/{version}/{split}", "SNLI subset of imdb-cad")


# --------------------------------------------------------------------------- images
