"""`Variant`: the one place a variant label is rendered and parsed."""
from __future__ import annotations

import pickle

import pytest

from bench.variants import HR, LR, Variant, is_sr_label, sr_label


@pytest.mark.parametrize("label", ["HR", "LR", "SR:edsr", "SR:onnx:/tmp/m.onnx"])
def test_label_round_trips(label):
    v = Variant.parse(label)
    assert v.label == label == str(v)
    assert Variant.parse(v.label) == v
    assert pickle.loads(pickle.dumps(v)) == v


def test_kinds_and_equality():
    assert Variant.parse("HR") == HR and Variant.parse("LR") == LR
    sr = Variant.parse("SR:edsr")
    assert sr.is_sr and sr.backend == "edsr" and not HR.is_sr and not LR.is_sr
    assert sr_label("edsr") == "SR:edsr" and is_sr_label("SR:edsr") and not is_sr_label("HR")


def test_resolved_backend_rides_along_without_changing_identity():
    class Fake:
        name, needs_reference = "dsrnet-x", True

    v = Variant.sr(Fake())
    assert v == Variant.parse("SR:dsrnet-x") and hash(v) == hash(Variant.parse("SR:dsrnet-x"))
    assert v.needs_reference and not Variant.parse("SR:dsrnet-x").needs_reference


@pytest.mark.parametrize("bad", ["hr", "SR:", "SR", "", "XR:a"])
def test_bad_labels_are_refused(bad):
    with pytest.raises(ValueError):
        Variant.parse(bad)
