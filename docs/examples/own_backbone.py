"""Your own backbone and data: a frozen feature extractor and an NMTune head in one Pipeline.

``backbone`` stands for your pre-trained network: any ``torch.nn.Module`` works (its output,
flattened, is the feature vector), as does a timm model name (``"resnet50.a1_in1k"``), a
sentence-transformers model, or a plain callable. To keep the example offline and fast it
is a fixed random ReLU layer on the 8x8 digit images.
"""

import tempfile
from pathlib import Path

import torch

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sknmtune import NMTuneClassifier, load, save
from sknmtune.backbones import FrozenBackboneTransformer

digits = load_digits()
images = digits.images / 16.0  # (n, 8, 8) grey images in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(
    images, digits.target, test_size=0.3, stratify=digits.target, random_state=0
)

workdir = Path(tempfile.mkdtemp())
torch.manual_seed(0)
backbone = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 256), torch.nn.ReLU())

model = make_pipeline(
    FrozenBackboneTransformer(
        backbone,  # frozen: run in eval and inference mode, never trained
        device="cpu",
        cache=workdir / "features",  # each image goes through the backbone once, across fits
    ),
    NMTuneClassifier.from_preset("nmtune-paper", max_epochs=10, random_state=0, device="cpu"),
)
model.fit(X_train, y_train)
print(f"test accuracy: {model.score(X_test, y_test):.3f}")

# The backbone here is your own nn.Module, i.e. code: the safe .skn format refuses it, so this
# pipeline is saved as a pickle and loaded with an explicit trusted=True (only for files you made).
path = save(model, workdir / "model.joblib", format="joblib")
reloaded = load(path, trusted=True)
assert (reloaded.predict(X_test) == model.predict(X_test)).all()
print(f"saved and reloaded {path.name}")
