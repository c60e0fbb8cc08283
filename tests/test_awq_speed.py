"""The faster AWQ search internals choose what autoawq's own would (engine/steps/awq_speed.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def quantizer_cls():
    from engine.steps.awq_quantize import _patch_transformers_names

    _patch_transformers_names()
    awq_quantizer = pytest.importorskip("awq.quantize.quantizer")
    from engine.steps import awq_speed

    awq_speed.apply()
    return awq_quantizer.AwqQuantizer


def _fake(cls, group_size=32):
    ns = SimpleNamespace(group_size=group_size, zero_point=True, w_bit=4, duo_scaling=True, max_chunk_memory=1 << 30)
    ns.pseudo_quantize_tensor = lambda w: cls.pseudo_quantize_tensor(ns, w)
    ns._compute_loss = lambda a, b, device: cls._compute_loss(ns, a, b, device)
    ns._module_forward = lambda x, module, kwargs: module(x)
    ns._sanitize_kwargs = lambda kwargs, module: {}
    return ns


def test_clip_search_matches_autoawq(quantizer_cls):
    original = quantizer_cls._olive_lab_original["_compute_best_clip"]
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(320, 256, generator=gen) * 0.02
    feat = torch.randn(3, 700, 256, generator=gen)
    ns = _fake(quantizer_cls)
    expected = original(ns, w, feat)
    got = quantizer_cls._compute_best_clip(ns, w, feat)
    assert got.shape == expected.shape
    same = torch.isclose(got, expected, rtol=1e-5, atol=1e-7).float().mean().item()
    assert same > 0.98, f"only {same:.1%} of the clip values agree"


def test_scale_search_picks_the_best_ratio_and_restores_the_weights(quantizer_cls):
    """autoawq's own version cannot be the reference on a CPU: there `state_dict().cpu()` aliases the weights
    it scales in place, so its candidates compound. The reference is the search written out plainly."""
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    linear = torch.nn.Linear(128, 96, bias=False)
    before = linear.weight.detach().clone()
    inp = torch.randn(4, 50, 128, generator=gen) * torch.linspace(0.1, 3.0, 128)
    ns = _fake(quantizer_cls)
    ns._compute_best_scale = lambda *a, **k: quantizer_cls._compute_best_scale(ns, *a, **k)
    _, _, got = quantizer_cls._search_best_scale(ns, linear, linear, [linear], inp)
    assert torch.equal(linear.weight, before)

    w = before.view(-1, 32)
    w_mean = (w.abs() / (w.abs().amax(dim=1, keepdim=True) + 1e-6)).view(before.shape).mean(0)
    x_mean = inp.abs().view(-1, 128).mean(0)
    reference = inp @ before.T
    losses = []
    for step in range(20):
        ratio = step / 20
        s = (x_mean.pow(ratio) / (w_mean.pow(1 - ratio) + 1e-4)).clamp(min=1e-4)
        s = s / (s.max() * s.min()).sqrt()
        q = quantizer_cls.pseudo_quantize_tensor(ns, before * s)[0] / s
        losses.append(((inp @ q.T) - reference).pow(2).mean().item())
    best = min(range(20), key=losses.__getitem__)
    s = (x_mean.pow(best / 20) / (w_mean.pow(1 - best / 20) + 1e-4)).clamp(min=1e-4)
    torch.testing.assert_close(got, s / (s.max() * s.min()).sqrt(), rtol=1e-4, atol=1e-6)


@pytest.mark.gpu
def test_on_cuda_the_search_matches_autoawq_itself(quantizer_cls):
    """On CUDA autoawq's own version restores real copies, so it is the reference there."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    gen = torch.Generator(device="cuda").manual_seed(2)
    linear = torch.nn.Linear(1024, 768, bias=False, device="cuda", dtype=torch.float16)
    inp = (
        torch.randn(8, 256, 1024, generator=gen, device="cuda") * torch.linspace(0.1, 3.0, 1024, device="cuda")
    ).half()
    ns = _fake(quantizer_cls, group_size=128)
    original = quantizer_cls._olive_lab_original
    ns._compute_best_scale = lambda *a, **k: original["_compute_best_scale"](ns, *a, **k)
    _, _, expected = original["_search_best_scale"](ns, linear, linear, [linear], inp)
    ns._compute_best_scale = lambda *a, **k: quantizer_cls._compute_best_scale(ns, *a, **k)
    _, _, got = quantizer_cls._search_best_scale(ns, linear, linear, [linear], inp)
    torch.testing.assert_close(got, expected, rtol=2e-3, atol=1e-4)
    w = linear.weight.detach()
    clip_expected = original["_compute_best_clip"](ns, w, inp)
    clip_got = quantizer_cls._compute_best_clip(ns, w, inp)
    same = torch.isclose(clip_got.float(), clip_expected.float(), rtol=1e-3).float().mean().item()
    assert same > 0.95, f"only {same:.1%} of the clip values agree"
