"""Every registered segmentation model: learns a synthetic pattern, saves/loads, is seeded.

Data: 64x64 dark noisy images with one bright square (class 1, "square"); class 2 ("ghost")
never occurs, so the rows for an absent class and the "mean over present classes" rule are
exercised end to end. One fit per model (module-scoped fixture) keeps the file fast on 2 cores.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from bench.datasets.base import Target  # noqa: E402
from tasks import TASK_MODELS  # noqa: E402
from tasks.base import FitConfig  # noqa: E402

SEG_MODELS = [n for n in TASK_MODELS.names() if n.startswith("segmentation/")]
CLASSES = ["square", "ghost"]
SIZE = 64
STEPS = 30  # epochs x (images // batch): enough for the tiny presets to find the square


def make_split(n: int, seed: int) -> tuple[list[np.ndarray], list[Target]]:
    rng = np.random.default_rng(seed)
    images, targets = [], []
    for _ in range(n):
        img = rng.integers(0, 60, size=(SIZE, SIZE, 3)).astype(np.uint8)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        s = int(rng.integers(14, 24))
        y, x = rng.integers(0, SIZE - s, size=2)
        img[y:y + s, x:x + s] = rng.integers(190, 255, size=(s, s, 3))
        mask[y:y + s, x:x + s] = 1
        mask[y:y + 2, x:x + s] = 255  # an ignored border strip, as annotation tools leave
        images.append(img)
        targets.append(Target(mask=mask))
    return images, targets


def cfg(seed: int = 0, epochs: int = STEPS // 4) -> FitConfig:
    return FitConfig(epochs=epochs, batch_size=4, lr=3e-3, image_size=SIZE, size="tiny", seed=seed)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def train_split() -> tuple[list[np.ndarray], list[Target]]:
    return make_split(16, seed=1)


@pytest.fixture(scope="module")
def test_split() -> tuple[list[np.ndarray], list[Target]]:
    return make_split(6, seed=2)


@pytest.fixture(scope="module", params=SEG_MODELS)
def fitted(request, train_split):  # type: ignore[no-untyped-def]
    model = TASK_MODELS.get(request.param)()
    calls: list[tuple[int, int, str]] = []
    model.fit(*train_split, CLASSES, cfg(), progress=lambda *a: calls.append(a))
    return request.param, model, calls


def test_progress_and_loss_decreases(fitted) -> None:  # type: ignore[no-untyped-def]
    _, model, calls = fitted
    steps_per_epoch = 16 // 4
    assert len(calls) == STEPS // 4 * steps_per_epoch
    assert calls[-1][0] == calls[-1][1] == len(calls)
    assert calls[0][2].startswith("loss ")
    h = model.history
    assert np.mean(h[-4:]) < 0.7 * np.mean(h[:4])


def test_learns_the_square(fitted, test_split) -> None:  # type: ignore[no-untyped-def]
    name, model, _ = fitted
    rows = {(r.cls, r.metric): r for r in model.evaluate(*test_split, CLASSES)}
    assert {("square", "iou"), ("ghost", "iou"), ("background", "iou"), ("Mean", "iou")} <= set(rows)
    for (cls, _), r in rows.items():
        assert r.higher_is_better
        if cls != "ghost":
            assert 0.0 <= r.value <= 1.0, (cls, r.value)
    ghost = rows[("ghost", "iou")].value
    assert math.isnan(ghost) or ghost == 0.0  # absent from the ground truth: NaN, or 0 if predicted
    # "ghost" is absent from the ground truth, so the mean is the square's IoU alone.
    assert rows[("Mean", "iou")].value == pytest.approx(rows[("square", "iou")].value)
    assert rows[("square", "iou")].value > 0.4, f"{name} did not learn the square"  # all-bg: 0
    assert rows[("background", "iou")].value > 0.8


def test_save_load_identical_predictions(fitted, test_split, tmp_path) -> None:  # type: ignore[no-untyped-def]
    name, model, _ = fitted
    directory = tmp_path / "ckpt"
    model.save(directory)
    assert sorted(p.name for p in directory.iterdir()) == ["model.json", "model.safetensors"]
    fresh = TASK_MODELS.get(name)()
    fresh.load(directory, device="cpu")
    images = test_split[0] + [np.ascontiguousarray(test_split[0][0][:48, :40])]  # an odd size too
    for a, b in zip(model.predict(images), fresh.predict(images), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.predict(images)[-1].shape == (48, 40)
    it = model._predict_iter(images)
    next(it)
    assert torch.is_grad_enabled()  # inference mode does not leak out of a paused generator


def test_evaluates_other_resolutions(fitted, test_split) -> None:  # type: ignore[no-untyped-def]
    """Images at another size are resized to the training size; predictions match the mask."""
    _, model, _ = fitted
    images, targets = test_split
    big = [np.repeat(np.repeat(im, 2, 0), 2, 1) for im in images[:2]]
    big_t = [Target(mask=np.repeat(np.repeat(t.mask, 2, 0), 2, 1)) for t in targets[:2]]
    rows = {(r.cls, r.metric): r.value for r in model.evaluate(big, big_t, CLASSES)}
    native = {(r.cls, r.metric): r.value
              for r in model.evaluate(images[:2], targets[:2], CLASSES)}
    assert rows[("square", "iou")] > 0.4  # the square is still found at twice the size
    assert abs(rows[("square", "iou")] - native[("square", "iou")]) < 0.15


@pytest.mark.parametrize("name", SEG_MODELS)
def test_describe_names_every_preset(name) -> None:
    cls = TASK_MODELS.get(name)
    texts = {size: cls.describe(size) for size in ("tiny", "small", "full")}
    assert len(set(texts.values())) == 3 and all("scratch" in t for t in texts.values())
    with pytest.raises(ValueError, match="Did you mean 'small'"):
        cls.describe("smal")


@pytest.mark.parametrize("name", SEG_MODELS)
def test_same_seed_same_weights(name, train_split) -> None:  # type: ignore[no-untyped-def]
    images, targets = train_split[0][:4], train_split[1][:4]
    short = FitConfig(epochs=2, batch_size=2, lr=1e-3, image_size=32, size="tiny", seed=7)
    states = []
    for seed in (7, 7, 8):
        model = TASK_MODELS.get(name)()
        model.fit(images, targets, CLASSES, FitConfig(**{**short.__dict__, "seed": seed}))
        states.append(model.net.state_dict())
    for k, v in states[0].items():
        assert torch.equal(v, states[1][k]), k
    assert any(not torch.equal(v, states[2][k]) for k, v in states[0].items() if v.is_floating_point())


@pytest.mark.parametrize("name", SEG_MODELS)
def test_describe_and_guards(name) -> None:  # type: ignore[no-untyped-def]
    cls = TASK_MODELS.get(name)
    for size in ("tiny", "small", "full"):
        assert cls.describe(size)
    with pytest.raises(ValueError, match="Did you mean 'small'"):
        cls.describe("smal")
    images, targets = make_split(1, seed=3)
    with pytest.raises(ValueError, match="at least 2 images"):
        cls().fit(images, targets, CLASSES, cfg(epochs=1))
    with pytest.raises(RuntimeError):
        cls().predict(images)


@pytest.mark.parametrize("name", SEG_MODELS)
@pytest.mark.parametrize("size", ["tiny", "small", "full"])
def test_full_resolution_logits(name, size) -> None:  # type: ignore[no-untyped-def]
    net = TASK_MODELS.get(name).build_network(size, len(CLASSES) + 1).eval()
    with torch.inference_mode():
        out = net(torch.zeros(1, 3, 40, 56))
    assert out.shape == (1, 3, 40, 56)


def test_data_loading_leaves_the_global_rng_alone(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Dropout draws from the global RNG: if reading batches drew from it too (a DataLoader
    iterator's base seed does), the weights would depend on how the data is loaded."""
    from tasks.segmentation import train as seg_train

    images, targets = make_split(4, seed=3)
    fit = FitConfig(epochs=2, batch_size=2, lr=1e-3, image_size=32, size="tiny", seed=1)

    def weights():
        model = TASK_MODELS.get("segmentation/fcn")()
        model.fit(images, targets, CLASSES, fit)
        return model.net.state_dict()

    through_loader = weights()

    def plain(data, batch_sampler, **_):  # stacks the same items, draws nothing
        return ([torch.stack(t) for t in zip(*(data[i] for i in idx))] for idx in batch_sampler)

    monkeypatch.setattr(seg_train.torch.utils.data, "DataLoader", plain)
    direct = weights()
    assert all(torch.equal(v, direct[k]) for k, v in through_loader.items())
