"""Quickstart: the paper's three heads on frozen features, with their spectra.

Any (n_samples, n_features) float array of frozen features works here. To keep the
example self-contained, the "features" are scikit-learn's digits pixels (64-d).
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sknmtune import NMTuneClassifier, largest_singular_value_ratio, singular_value_entropy

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)  # stand-in for a backbone's features F
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)

for preset in ["lp", "mlp", "nmtune-paper"]:
    clf = NMTuneClassifier.from_preset(preset, max_epochs=20, random_state=0)
    clf.fit(X_train, y_train)
    Z = clf.transform(X_test)  # the head's representation; F itself for LP
    print(
        f"{preset:13s} accuracy {clf.score(X_test, y_test):.3f}  "
        f"SVE(Z) {singular_value_entropy(Z):.3f}  LSVR(Z) {largest_singular_value_ratio(Z):.3f}"
    )
