"""Noisy downstream labels: LP, MLP tuning and NMTune trained on corrupted labels, scored on clean ones."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sknmtune import NMTuneClassifier, symmetric_label_noise
from sknmtune.evaluation import evaluate_heads, summarize

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)  # stand-in for frozen backbone features
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)

heads = {  # the presets' fixed budgets, shortened so that the example runs in seconds
    name: NMTuneClassifier.from_preset(name, max_epochs=8) for name in ("lp", "mlp", "nmtune-paper")
}
for rate in (0.0, 0.4):
    # corrupt only the training labels; the test labels stay clean
    y_noisy = symmetric_label_noise(y_train, rate, random_state=0)[0] if rate else y_train
    records = evaluate_heads(heads, X_train, y_noisy, id_test=(X_test, y_test), seeds=(0, 1))
    accuracy = summarize(records)
    print(f"{rate:.0%} noisy labels: " + ", ".join(f"{m} {accuracy[(m, 'id')]:.3f}" for m in heads))
