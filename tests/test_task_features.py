"""Feature taps of every task model (`TaskModel.features`, task-driven SR): shapes at the
documented layers, gradients reach the input, none reach the (frozen) weights."""
from __future__ import annotations

import pytest
import torch

from bench.errors import ConfigError
from tasks import TASK_MODELS

torch.set_num_threads(1)


def _built(name: str, monkeypatch, tmp_path):
    """An untrained task model with its network(s) built, as load() leaves it."""
    monkeypatch.setenv("SEWER_BENCH_CACHE", str(tmp_path))
    model = TASK_MODELS.get(name)()
    task = name.split("/")[0]
    if task == "segmentation":
        model.net = model.build_network("tiny", 4)
        model.meta = {"image_size": 64}
    elif task == "detection":
        model.meta = {"size": "tiny", "yaml": "yolov5n.yaml", "num_classes": 3,
                      "image_size": 64, "classes": ["a", "b", "c"]}
        model.net = model.build(model.meta)
    else:
        model.nets = model._networks("tiny", 5)
        model.meta = {"image_size": 64}
    for net in model.networks().values():
        net.eval().requires_grad_(False)
    return model


# (model, expected number of taps, expected spatial stride of the first tap at 64x64 input)
CASES = {
    "segmentation/fcn": (1, 16),            # ResNet layer4, dilated: output stride 16
    "segmentation/deeplabv3plus": (1, 16),  # encoder's last stage (output stride 16)
    "detection/yolov5s": (3, 8),            # P3, P4, P5 at strides 8, 16, 32
    "detection/ssd": (2, None),             # first two SSDlite maps (resized to image_size)
    "classification/resnet101": (1, 32),    # timm forward_features: layer4
    "classification/inception_v3": (1, None),
    "classification/two-stage": (2, 32),    # both stage nets' last stages
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_taps_shapes_and_gradients(name, monkeypatch, tmp_path):
    model = _built(name, monkeypatch, tmp_path)
    n_taps, stride = CASES[name]
    assert model.feature_taps
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    feats = model.features(x)
    assert len(feats) == n_taps
    for f in feats:
        assert f.ndim == 4 and f.shape[0] == 2 and f.requires_grad
    if stride is not None:
        assert feats[0].shape[-2:] == (64 // stride, 64 // stride)
    if name == "detection/yolov5s":
        assert [f.shape[-1] for f in feats] == [8, 4, 2]
    sum(f.abs().mean() for f in feats).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for net in model.networks().values() for p in net.parameters())


def test_taps_depend_on_the_batch_item_only():
    """Eval mode: an item's features do not depend on the other items of the batch."""
    model = TASK_MODELS.get("segmentation/fcn")()
    model.net = model.build_network("tiny", 4).eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        both, one = model.features(x)[0], model.features(x[1:2])[0]
    # float tolerance: batch 3 and batch 1 may take other conv kernels (seen with 1 thread:
    # 1.5e-6); a batch dependence (BatchNorm in train mode) differs by far more
    torch.testing.assert_close(both[1:2], one, rtol=1e-4, atol=1e-5)


def test_a_model_without_taps_raises_a_clear_error():
    from tasks.base import TaskModel

    class NoTaps(TaskModel):
        task, name = "segmentation", "none"
        describe = fit = evaluate = save = load = None  # type: ignore[assignment]

    NoTaps.__abstractmethods__ = frozenset()
    with pytest.raises(ConfigError, match="segmentation/none has no feature taps"):
        NoTaps().features(torch.zeros(1, 3, 8, 8))
