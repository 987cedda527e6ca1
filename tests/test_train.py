import math

import pytest
import torch
from torch import nn

import lessonkit as lk


def test_topk_accuracy_hand_worked_example():
    # Row 0: target 2 has the 2nd largest logit; row 1: target 0 is the largest;
    # row 2: target 1 is the smallest of three. Top-1 = 1/3, top-2 = 2/3, top-3 = 1.
    logits = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4], [0.3, 0.0, 0.9]])
    targets = torch.tensor([2, 0, 1])
    top1, top2, top3 = lk.topk_accuracy(logits, targets, k=(1, 2, 3))
    assert top1 == pytest.approx(1 / 3)
    assert top2 == pytest.approx(2 / 3)
    assert top3 == pytest.approx(1.0)


def test_topk_accuracy_matches_a_sorting_oracle():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 10, generator=g)
    targets = torch.randint(0, 10, (200,), generator=g)
    order = logits.argsort(dim=1, descending=True)
    rank = (order == targets[:, None]).float().argmax(dim=1)  # 0 = predicted first
    for k in (1, 3, 5):
        assert lk.topk_accuracy(logits, targets, (k,))[0] == pytest.approx((rank < k).float().mean().item())


@pytest.mark.parametrize(
    "logits, targets, k, match",
    [
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), (1,), r"shape \(N, C\)"),
        (torch.zeros(4, 3), torch.zeros(3, dtype=torch.long), (1,), r"shape \(4,\)"),
        (torch.zeros(4, 3), torch.zeros(4), (1,), "integer class indices"),
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), (4,), "k must be an int <= 3"),
    ],
)
def test_topk_accuracy_rejects_bad_input(logits, targets, k, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lk.topk_accuracy(logits, targets, k)


def blobs(n=512, seed=0):
    """Two well-separated Gaussian blobs as 1x4x4 'images': a learnable task."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 1, 4, 4, generator=g) * 0.5 + (y.float() * 2 - 1).view(-1, 1, 1, 1)
    return torch.utils.data.TensorDataset(x, y)


def test_fit_improves_accuracy_and_records_history():
    lk.seed_everything(0)
    train, val = blobs(512, 0), blobs(256, 1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    nn.init.zeros_(model[1].weight)  # start knowing nothing: every prediction is class 0
    val_loader = lk.make_loader(val, 64)
    before = lk.evaluate(model, val_loader)["top1"]
    h = lk.fit(model, lk.make_loader(train, 64, shuffle=True), val_loader, epochs=3, lr=0.05)
    assert h.epochs == 3 and len(h.val_acc) == 3 and len(h.lr) == 3
    assert before < 0.6
    assert h.val_acc[-1] > 0.95
    assert h.train_loss[-1] < h.train_loss[0]
    assert lk.evaluate(model, val_loader)["top1"] == pytest.approx(h.val_acc[-1])


def test_fit_steps_the_scheduler_once_per_epoch_and_continues_history():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = lk.fit(model, lk.make_loader(blobs(64), 32), epochs=2, optimizer=opt, scheduler=sched)
    assert h.lr == [1.0, 0.5] and h.val_acc == []
    h = lk.fit(model, lk.make_loader(blobs(64), 32), epochs=1, optimizer=opt, history=h)
    assert h.epochs == 3


def test_fit_applies_batch_transform_and_handles_soft_targets():
    seen = []

    def mix(x, y):
        seen.append(x.shape[0])
        return x, nn.functional.one_hot(y, 2).float()  # soft targets, as MixUp makes

    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    h = lk.fit(model, lk.make_loader(blobs(64), 32), epochs=1, batch_transform=mix)
    assert seen == [32, 32]
    assert math.isnan(h.train_acc[0])  # no hard labels: no accuracy claimed


def test_fit_rejects_bad_epochs():
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
        lk.fit(nn.Linear(1, 1), [], epochs=0)
    with pytest.raises(TypeError, match="epochs must be an int, got float"):
        lk.fit(nn.Linear(1, 1), [], epochs=2.0)


def _pair(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3))


@pytest.mark.parametrize("seed", [0, 5])
def test_fit_on_a_pair_of_tensors_is_the_explicit_device_loader_bitwise(seed):
    (x, y), (xv, yv) = _pair(50, 1), _pair(30, 2)
    transform = lk.RandomTranslate(1)
    torch.manual_seed(3)
    explicit = lk.fit(_net(), lk.DeviceLoader((x, y), 16, shuffle=True, device="cpu", seed=seed),
                      lk.DeviceLoader((xv, yv), 7, device="cpu"), epochs=3, batch_transform=transform)
    torch.manual_seed(3)
    short = lk.fit(_net(), (x, y), (xv, yv), epochs=3, batch_size=16, val_batch_size=7, seed=seed,
                   batch_transform=transform)
    assert short.as_dict() == explicit.as_dict()  # exact equality of every float
    other = lk.fit(_net(), (x, y), (xv, yv), epochs=3, batch_size=16, val_batch_size=7, seed=seed + 1)
    assert other.train_loss != explicit.train_loss  # the seed does shuffle


def test_fit_validation_pair_defaults_to_the_training_batch_size_and_keeps_its_order():
    (x, y), (xv, yv) = _pair(40, 1), _pair(30, 2)
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _net()

        def forward(self, inp):
            if not self.training:
                seen.append(inp.clone())
            return self.net(inp)

    lk.fit(Spy(), (x, y), (xv, yv), epochs=1, batch_size=8)
    assert [len(b) for b in seen] == [8, 8, 8, 6]
    assert torch.equal(torch.cat(seen), xv)  # in order, not shuffled


def test_evaluate_on_a_pair_equals_the_explicit_device_loader():
    x, y = _pair(45, 4)
    model = _net()
    explicit = lk.evaluate(model, lk.DeviceLoader((x, y), 10), k=(1, 2))
    assert lk.evaluate(model, (x, y), k=(1, 2), batch_size=10) == explicit
    with pytest.raises(ValueError, match="batch_size"):
        lk.evaluate(model, (x, y))  # a pair needs a batch size
    with pytest.raises(ValueError, match="leave batch_size out"):
        lk.evaluate(model, lk.DeviceLoader((x, y), 10), batch_size=10)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(), ValueError, "give its batch_size"),
        (dict(batch_size=0), ValueError, "batch_size must be an int >= 1"),
        (dict(batch_size=8.0), TypeError, "batch_size must be an int"),
        (dict(batch_size=8, seed="0"), TypeError, "seed must be an int"),
        (dict(batch_size=8, val_batch_size=4), ValueError, "no validation data"),
    ],
)
def test_fit_on_a_pair_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        lk.fit(_net(), _pair(10), epochs=1, **kwargs)


def test_fit_with_a_loader_rejects_a_batch_size():
    x, y = _pair(10)
    with pytest.raises(ValueError, match="leave batch_size out"):
        lk.fit(_net(), lk.DeviceLoader((x, y), 5), epochs=1, batch_size=5)
    with pytest.raises(ValueError, match="leave val_batch_size out"):
        lk.fit(_net(), (x, y), lk.DeviceLoader((x, y), 5), epochs=1, batch_size=5, val_batch_size=5)
    with pytest.raises(TypeError, match="model must be a Module, got str"):
        lk.fit("net", (x, y), epochs=1, batch_size=5, device="cpu")


def test_evaluate_restores_training_mode_and_reports_topk():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2), nn.Dropout(0.5))
    model.train()
    out = lk.evaluate(model, lk.make_loader(blobs(64), 32), k=(1, 2))
    assert model.training
    assert out["top2"] == 1.0 and 0 <= out["top1"] <= 1 and out["loss"] > 0


def test_predict_returns_all_logits_in_order():
    ds = blobs(70)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    logits, targets = lk.predict(model, lk.make_loader(ds, 32))
    assert logits.shape == (70, 2)
    assert torch.equal(targets, ds.tensors[1])
    torch.testing.assert_close(logits, model(ds.tensors[0]))


class _Recorder(nn.Module):
    """A linear classifier that records, at each forward pass, whether autocast is on and its output dtype."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 2)
        self.seen: list[tuple[bool, torch.dtype]] = []

    def forward(self, x):
        out = self.fc(x.flatten(1))
        self.seen.append((torch.is_autocast_enabled("cuda") or torch.is_autocast_enabled("cpu"), out.dtype))
        return out


def test_fit_amp_is_off_on_the_cpu_and_validated():
    model = _Recorder()
    lk.fit(model, lk.make_loader(blobs(64), 32), epochs=1)  # amp=None: automatic
    lk.fit(model, lk.make_loader(blobs(64), 32), epochs=1, amp=False)
    assert model.seen == [(False, torch.float32)] * 4
    with pytest.raises(ValueError, match="amp=True needs a CUDA device.*or the CPU.*meta"):
        lk.fit(model, lk.make_loader(blobs(64), 32), epochs=1, amp=True, device="meta")
    with pytest.raises(TypeError, match="amp must be True, False or None"):
        lk.fit(model, lk.make_loader(blobs(64), 32), epochs=1, amp="fp16")
    with pytest.raises(TypeError, match="amp must be True, False or None"):
        lk.fit(model, lk.make_loader(blobs(64), 32), epochs=1, amp=1)
    assert len(model.seen) == 4  # the bad calls were refused before any training
    assert all(p.device.type == "cpu" for p in model.parameters())  # ... and before moving the model


@pytest.mark.skipif(not torch.cuda.is_available(), reason="mixed precision needs a CUDA GPU")
@pytest.mark.parametrize("amp", [None, True, False])
def test_fit_mixed_precision_on_cuda(amp):
    lk.seed_everything(0)
    model = _Recorder().cuda()
    nn.init.zeros_(model.fc.weight)
    val = lk.make_loader(blobs(256, 1), 64)
    h = lk.fit(model, lk.make_loader(blobs(512, 0), 64, shuffle=True), val, epochs=3, lr=0.05, amp=amp)
    on = amp is not False
    train_calls = [s for s in model.seen if s[0]]
    assert len(train_calls) == (3 * 8 if on else 0)
    assert all(dtype == torch.float16 for _, dtype in train_calls)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay in float32
    assert h.val_acc[-1] > 0.95


def test_evaluate_and_predict_restore_each_submodules_mode():
    # A frozen batch norm kept in eval mode inside a model in training mode (lesson 12):
    # model.train(was_training) afterwards would switch it back to training (issue 16).
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2), nn.BatchNorm1d(2)).train()
    model[2].eval()
    lk.evaluate(model, lk.make_loader(blobs(64), 32))
    lk.predict(model, lk.make_loader(blobs(64), 32))
    assert [m.training for m in model] == [True, True, False]


def test_evaluate_runs_on_the_models_device():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    loader = lk.make_loader(blobs(64), 32)
    assert lk.evaluate(model, loader, device="cpu") == lk.evaluate(model, loader)
    with pytest.raises(ValueError, match="the model is on cpu but device=meta"):
        lk.evaluate(model, loader, device="meta")
    with pytest.raises(ValueError, match="the model is on cpu but device=meta"):
        lk.predict(model, loader, device="meta")
    # A model without parameters (here the logits are the inputs) runs where the data are.
    x = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    out = lk.evaluate(nn.Identity(), [(x, torch.tensor([0, 0, 0]))])
    assert out["top1"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="no batches"):
        lk.predict(model, [])


def _amp_net():
    lk.seed_everything(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


def _amp_batches():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(8, 3, 6, 6, generator=g), torch.randint(0, 3, (8,), generator=g)) for _ in range(3)]


def test_fit_amp_true_on_the_cpu_trains_under_bfloat16_autocast():
    model = _amp_net()
    seen = []
    model[0].register_forward_hook(lambda module, args, out: seen.append((module.training, out.dtype)))
    batches = _amp_batches()
    h = lk.fit(model, batches, batches[:1], epochs=2, amp=True)
    train_dtypes = [dtype for training, dtype in seen if training]
    val_dtypes = [dtype for training, dtype in seen if not training]
    assert train_dtypes == [torch.bfloat16] * 6  # 2 epochs x 3 batches, the convolution in bfloat16
    assert val_dtypes == [torch.float32] * 2  # validation (evaluate) runs without autocast
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay in float32
    assert all(math.isfinite(v) for v in h.train_loss + h.val_loss)


def test_fit_amp_true_on_the_cpu_is_the_textbook_autocast_loop():
    # Oracle: the loop written out with torch.autocast("cpu", dtype=torch.bfloat16) and no scaler.
    batches = _amp_batches()
    got = _amp_net()
    lk.fit(got, batches, epochs=1, optimizer=torch.optim.SGD(got.parameters(), lr=0.1), amp=True)
    expected = _amp_net()
    opt = torch.optim.SGD(expected.parameters(), lr=0.1)
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(expected(x), y)
        loss.backward()
        opt.step()
    fp32 = _amp_net()
    lk.fit(fp32, batches, epochs=1, optimizer=torch.optim.SGD(fp32.parameters(), lr=0.1), amp=False)
    for a, b, c in zip(got.parameters(), expected.parameters(), fp32.parameters()):
        assert torch.equal(a, b)
        torch.testing.assert_close(a, c, rtol=0, atol=0.05)  # bfloat16 changes the last digits only...
    assert not all(torch.equal(a, c) for a, c in zip(got.parameters(), fp32.parameters()))  # ...but it changes them


def test_fit_amp_on_cuda_builds_a_gradient_scaler(monkeypatch):
    # No GPU here: a stand-in GradScaler records that fit asks for one, then stops fit
    # before it moves the model to CUDA.
    class Built(Exception):
        pass

    made = []

    def scaler(*args, **kwargs):
        made.append(args)
        raise Built

    monkeypatch.setattr(torch.amp, "GradScaler", scaler)
    for amp in (None, True):
        with pytest.raises(Built):
            lk.fit(_Recorder(), lk.make_loader(blobs(64), 32), epochs=1, device="cuda", amp=amp)
    assert made == [("cuda",), ("cuda",)]
    assert lk.train._mixed_precision(torch.device("cuda"), False) == (None, None)
    assert lk.train._mixed_precision(torch.device("cpu"), True) == (torch.bfloat16, None)  # bfloat16: no scaler
    assert lk.train._mixed_precision(torch.device("cpu"), None) == (None, None)  # off by default on the CPU
    monkeypatch.setattr(torch.amp, "GradScaler", lambda *args: ("scaler",) + args)
    assert lk.train._mixed_precision(torch.device("cuda"), None) == (torch.float16, ("scaler", "cuda"))


# --------------------------------------------------------------------------- channels_last
def _cl_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))


def _cl_batches(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(16, 3, 8, 8, generator=g), torch.randint(0, 3, (16,), generator=g)) for _ in range(n)]


def test_fit_channels_last_is_the_plain_contiguous_loop_up_to_rounding():
    # Oracle: the textbook loop in the default (contiguous, NCHW) memory format, written out.
    batches = _cl_batches()
    got = _cl_net()
    formats = []
    got[0].register_forward_pre_hook(
        lambda m, args: formats.append(args[0].is_contiguous(memory_format=torch.channels_last)) if m.training else None)
    h = lk.fit(got, batches, batches[:2], epochs=2, optimizer=torch.optim.SGD(got.parameters(), lr=0.1),
               channels_last=True)
    expected = _cl_net()
    opt = torch.optim.SGD(expected.parameters(), lr=0.1)
    losses = []
    for _ in range(2):
        expected.train()
        total = 0.0
        for x, y in batches:
            assert x.is_contiguous() and not x.is_contiguous(memory_format=torch.channels_last)
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(expected(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
        losses.append(total / sum(len(y) for _, y in batches))
    assert formats == [True] * 8  # every training batch reached the network channels-last
    assert h.train_loss == pytest.approx(losses, rel=1e-5)
    for a, b in zip(got.state_dict().values(), expected.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    with lk.eval_mode(expected):
        val = lk.evaluate(expected, batches[:2])
    assert h.val_loss[-1] == pytest.approx(val["loss"], rel=1e-5)
    assert h.val_acc[-1] == val["top1"]


def test_fit_channels_last_leaves_the_convolutions_channels_last_and_the_default_does_not():
    on, off = _cl_net(), _cl_net()
    lk.fit(on, _cl_batches(1), epochs=1, channels_last=True)
    lk.fit(off, _cl_batches(1), epochs=1)
    for conv in (on[0], on[4]):
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
        assert not conv.weight.is_contiguous()  # really NHWC in memory, not a layout that is both
    assert all(m.weight.is_contiguous() for m in (off[0], off[4]))
    assert on[8].weight.is_contiguous()  # 2-D weights have no channels-last form: left as they are


@pytest.mark.parametrize("bad", [1, 0, "yes", None, torch.channels_last])
def test_fit_channels_last_must_be_a_bool(bad):
    model = _cl_net()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(TypeError, match=r"channels_last must be True or False, got"):
        lk.fit(model, _cl_batches(1), epochs=1, channels_last=bad)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # refused before any training


def test_fit_channels_last_needs_4d_batches():
    flat = [(torch.randn(8, 16), torch.randint(0, 3, (8,)))]
    with pytest.raises(ValueError, match=r"channels_last=True needs 4-D image batches \(N, C, H, W\), got a batch "
                                         r"of shape \(8, 16\)"):
        lk.fit(nn.Linear(16, 3), flat, epochs=1, channels_last=True)
    lk.fit(nn.Linear(16, 3), flat, epochs=1)  # the same batches train in the default format


def test_fit_channels_last_still_moves_each_batch_to_the_models_device():
    # test_devices' stand-in GPU: "meta" tensors that keep their values, and raise on a device mismatch as CUDA does.
    import copy

    from test_devices import META, StandIn, on_the_device, to_cpu

    batches = _cl_batches(2)
    cpu_model = _cl_net()
    expected = lk.fit(cpu_model, batches, batches[:1], epochs=1, channels_last=True).as_dict()
    with StandIn():
        m = on_the_device(_cl_net())
        got = lk.fit(m, batches, batches[:1], epochs=1, channels_last=True).as_dict()  # CPU batches, meta model
        assert m[0].weight.device == META and m[0].weight.is_contiguous(memory_format=torch.channels_last)
        state = to_cpu(m.state_dict())
        with pytest.raises(RuntimeError, match="at least two devices, meta and cpu"):  # the stand-in does catch one
            m(batches[0][0].contiguous(memory_format=torch.channels_last))
    assert got == expected  # the stand-in computes on the CPU: the same numbers, bit for bit
    for a, b in zip(state.values(), cpu_model.state_dict().values()):
        torch.testing.assert_close(a, b)
