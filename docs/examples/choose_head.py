"""Which head: the package's default and its soft vote, against the tuned linear probe, in-domain and under a shift.

``NMTuneClassifierCV()`` is the package's default head (LP, MLP tuning or NMTune, chosen by inner cross-validation)
and ``make_voting_head()`` a soft vote of four heads. Which one the benchmarks recommend is decided by code on their
validation splits (``benchmarks/results/head_choice.md``), not here. Here the "features" are scikit-learn's digits
pixels, and the shifted test set is the same digits with every pixel value perturbed.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknmtune import NMTuneClassifierCV, make_voting_head

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)  # stand-in for a backbone's features F
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
rng = np.random.default_rng(0)
X_shift = np.clip(X_test + rng.normal(scale=0.3, size=X_test.shape), 0, 1).astype(np.float32)  # a shifted copy

heads = {
    "make_voting_head()": make_voting_head(random_state=0, device="cpu"),
    "NMTuneClassifierCV()": NMTuneClassifierCV(random_state=0),
    "LogisticRegressionCV": make_pipeline(
        StandardScaler(),
        LogisticRegressionCV(l1_ratios=(0.0,), scoring="accuracy", max_iter=2000, use_legacy_attributes=False),
    ),
}
for name, head in heads.items():
    head.fit(X_train, y_train)
    print(f"{name:22s} ID accuracy {head.score(X_test, y_test):.3f}   shifted {head.score(X_shift, y_test):.3f}")

cv = heads["NMTuneClassifierCV()"]
print("NMTuneClassifierCV picked", cv.best_params_)
