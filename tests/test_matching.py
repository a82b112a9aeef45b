"""DSRNet matching and feature transfer: correspondence recovery, the fast transfer against a
slow unfold/gather/fold reference, and linear growth of the matching cost."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sr_backends.dsrnet.encoder import Encoder
from sr_backends.dsrnet.matching import match
from sr_backends.dsrnet.transfer import make_bags, transfer


pytestmark = pytest.mark.usefixtures("one_thread")


def _textured(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth multi-octave noise image (1, 3, h, w) in [0, 1]: texture at every scale."""
    g = torch.Generator().manual_seed(seed)
    img = torch.zeros(1, 3, h, w)
    for cells in (4, 8, 16, 32):
        noise = torch.rand(1, 3, h // cells + 2, w // cells + 2, generator=g)
        img += F.interpolate(noise, size=(h, w), mode="bicubic", align_corners=False) / cells ** 0.5
    return (img - img.min()) / (img.max() - img.min())


def _down4(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=0.25, mode="bicubic", align_corners=False, antialias=True)


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    torch.manual_seed(0)
    return Encoder(3, 16, 1).eval()


def _features(encoder: Encoder, img: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return encoder(img, levels=1)[0]


def test_identity_correspondence(encoder: Encoder) -> None:
    hr = _textured(128, 192)
    lr = _down4(hr)  # Ref = the HR of the same frame, so Ref↓ == LR
    m = match(_features(encoder, lr), _features(encoder, _down4(hr)))
    h, w = lr.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    # Centres are kept off the 1-px border, so border pixels map to their inner neighbour.
    expected = ys.clamp(1, h - 2) * w + xs.clamp(1, w - 2)
    assert (m.index[0] == expected).float().mean() >= 0.9
    assert m.score.shape == (1, 1, h, w) and m.score.max() <= 1 + 1e-5
    assert m.score.median() > 0.99


@pytest.mark.parametrize("shift", [(8, 8), (8, -16)])
def test_shifted_reference_recovers_shift(encoder: Encoder, shift: tuple[int, int]) -> None:
    big = _textured(160, 224, seed=1)
    top, left = 16, 16
    hr = big[..., top:top + 128, left:left + 192]
    ref = big[..., top + shift[0]:top + shift[0] + 128, left + shift[1]:left + shift[1] + 192]
    lr = _down4(hr)
    m = match(_features(encoder, lr), _features(encoder, _down4(ref)))
    h, w = lr.shape[-2:]
    dy, dx = shift[0] // 4, shift[1] // 4  # LR pixel i shows what Ref↓ shows at i - (dy, dx)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ty, tx = ys - dy, xs - dx
    # Interior: 4 px from both borders; nearer, the encoder's zero padding makes LR and Ref↓
    # features of the same content differ (their borders are at different content).
    m4 = 4
    interior = ((ty >= m4) & (ty < h - m4) & (tx >= m4) & (tx < w - m4)
                & (ys >= m4) & (ys < h - m4) & (xs >= m4) & (xs < w - m4))
    hit = m.index[0] == ty * w + tx
    assert hit[interior].float().mean() >= 0.9


def test_score_is_differentiable_and_equals_the_search_score() -> None:
    g = torch.Generator().manual_seed(3)
    lr_feat = torch.randn(2, 8, 32, 48, generator=g, requires_grad=True)
    ref_feat = torch.randn(2, 8, 40, 44, generator=g, requires_grad=True)
    m = match(lr_feat, ref_feat)  # autograd on: score recomputed differentiably
    m.score.sum().backward()
    assert lr_feat.grad is not None and ref_feat.grad is not None
    assert int(m.index.min()) >= 0 and int(m.index.max()) < 40 * 44
    with torch.no_grad():  # inference: the score comes straight from the fine search
        m2 = match(lr_feat, ref_feat)
    assert torch.equal(m.index, m2.index)
    torch.testing.assert_close(m.score, m2.score, atol=1e-5, rtol=1e-5)
    assert m.score.abs().max() <= 1 + 1e-5


def slow_transfer(ref: torch.Tensor, index: torch.Tensor, score: torch.Tensor,
                  s: int) -> torch.Tensor:
    """The authors' way: unfold every 3s x 3s patch, gather the matched ones, fold them back
    with overlap normalisation, weight by the bilinearly upsampled score."""
    B = ref.shape[0]
    h, w = index.shape[-2:]
    k = 3 * s
    patches = F.unfold(ref, k, stride=s, padding=s)  # (B, C*k*k, H*W): patch j centred at j
    picked = torch.gather(patches, 2, index.view(B, 1, -1).expand(-1, patches.shape[1], -1))
    out = F.fold(picked, (s * h, s * w), k, stride=s, padding=s)
    overlap = F.fold(torch.ones_like(picked), (s * h, s * w), k, stride=s, padding=s)
    up = F.interpolate(score, scale_factor=s, mode="bilinear", align_corners=False)
    return out / overlap * up


@pytest.mark.parametrize("s", [1, 2, 4])
def test_fast_transfer_equals_unfold_fold(s: int) -> None:
    g = torch.Generator().manual_seed(s)
    B, C, h, w, H, W = 2, 6, 7, 9, 10, 8
    index = torch.randint(1, H - 1, (B, h, w), generator=g) * W + \
        torch.randint(1, W - 1, (B, h, w), generator=g)
    score = torch.rand(B, 1, h, w, generator=g)
    ref = torch.randn(B, C, s * H, s * W, generator=g, requires_grad=True)
    fast = transfer(ref, make_bags(index, (H, W)), score, s)
    slow = slow_transfer(ref, index, score, s)
    assert fast.shape == (B, C, s * h, s * w)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    g_fast, = torch.autograd.grad(fast.square().sum(), ref)
    g_slow, = torch.autograd.grad(slow.square().sum(), ref)
    torch.testing.assert_close(g_fast, g_slow, atol=1e-5, rtol=1e-5)


def _matching_macs(h: int, w: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"), FlopCounterMode(display=False) as fc:
        match(torch.empty(1, 64, h, w), torch.empty(1, 64, h, w))
    return fc.get_total_flops() / 2


def test_matching_cost_grows_linearly() -> None:
    """MACs per 4x area at the benchmark sizes stay near 4x (authors' coarse search: ~5.2x+)."""
    sizes = [(80, 112), (160, 224), (320, 448)]
    macs = [_matching_macs(*s) for s in sizes]
    for a, b in zip(macs, macs[1:]):
        assert b / a <= 4.5


def test_perf_probe_drives_the_generic_probe_timer() -> None:
    """`bench perf matching` = the model's probe + bench.perf.probe_perf (tiny sizes here)."""
    from bench.perf import probe_perf
    from sr_backends.dsrnet.matching import perf_probe

    fn, (lr, rd) = perf_probe((16, 32), n_feats=8)
    assert fn is match and lr.shape == rd.shape == (1, 8, 16, 32)
    rows = probe_perf(lambda hw: perf_probe(hw, n_feats=8), lr_sizes=((16, 16), (32, 32)),
                      repeats=1, threads=1)
    assert [r["lr_size"] for r in rows] == [[16, 16], [32, 32]]
    assert rows[1]["ref_size"] == [128, 128] and all(r["gmacs"] > 0 for r in rows)
    assert "growth_per_4x_area" in rows[1] and "growth_per_4x_area" not in rows[0]
