"""The one training loop: loss goes down, history, callbacks, early stopping with best-weight restore, devices."""
import pytest
import torch
from torch import nn

from course_utils.training import EarlyStopping, History, fit_loop, linear_decay, resolve_device


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    torch.manual_seed(seed)
    model = nn.Linear(4, 1)
    batches = lambda epoch: [(x[i:i + 64], y[i:i + 64]) for i in range(0, 256, 64)]  # noqa: E731
    step = lambda b: ((model(b[0]).squeeze(-1) - b[1]) ** 2).mean()  # noqa: E731
    return model, batches, step


def test_loss_decreases_and_history_records_every_epoch():
    model, batches, step = _problem()
    history = fit_loop(model, batches, step, torch.optim.SGD(model.parameters(), lr=0.05), epochs=8, progress=False)
    assert isinstance(history, History) and len(history) == 8
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]
    frame = history.to_frame()
    assert list(frame.index) == list(range(1, 9)) and {"train_loss", "seconds"} <= set(frame.columns)
    assert not model.training  # left in eval mode


def test_linear_decay_steps_after_every_optimizer_step_down_to_zero():
    model, batches, step = _problem()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.04)
    rates = []
    scheduler = linear_decay(optimizer, total_steps=8)  # 2 epochs of 4 batches
    fit_loop(model, batches, step, optimizer, epochs=2, progress=False, scheduler=scheduler,
             callbacks=[lambda epoch, loss, val: rates.append(optimizer.param_groups[0]["lr"])])
    assert rates == pytest.approx([0.02, 0.0])  # halfway after epoch 1, zero at the end


def test_callbacks_get_the_seed_signature_and_validation_metrics():
    model, batches, step = _problem()
    calls = []
    history = fit_loop(model, batches, step, torch.optim.SGD(model.parameters(), lr=0.05), epochs=3,
                       validate=lambda: {"ndcg@10": 0.5}, callbacks=[lambda e, loss, m: calls.append((e, loss, m))],
                       progress=False)
    assert [c[0] for c in calls] == [1, 2, 3]
    assert calls[0][1] == pytest.approx(history.train_loss[0]) and calls[0][2] == {"ndcg@10": 0.5}
    assert history.to_frame()["ndcg@10"].tolist() == [0.5, 0.5, 0.5]


def test_early_stopping_stops_and_restores_the_best_weights():
    model, batches, step = _problem()
    values = iter([0.1, 0.3, 0.2, 0.25, 0.15, 0.9, 0.9])
    snapshots = {}

    def validate():
        return {"ndcg@10": next(values)}

    def remember(epoch, loss, metrics):
        snapshots[epoch] = model.weight.detach().clone()

    stopper = EarlyStopping(monitor="ndcg@10", patience=3)
    history = fit_loop(model, batches, step, torch.optim.SGD(model.parameters(), lr=0.05), epochs=7,
                       validate=validate, callbacks=[remember, stopper], progress=False)
    assert len(history) == 5 and stopper.best_epoch == 2 and stopper.best_value == 0.3  # epochs 3, 4, 5 no better
    assert torch.equal(model.weight, snapshots[2])


def test_early_stopping_needs_the_metric():
    stopper = EarlyStopping(monitor="recall@20")
    with pytest.raises(ValueError, match="monitors 'recall@20'.*pass val_data"):
        stopper(1, 0.5, {"ndcg@10": 0.2})
    with pytest.raises(ValueError, match="'patience' parameter of EarlyStopping must be an int >= 1"):
        EarlyStopping(patience=0)


def test_non_finite_loss_is_reported():
    model, batches, _ = _problem()
    with pytest.raises(FloatingPointError, match="became nan at epoch 1"):
        fit_loop(model, batches, lambda b: model(b[0]).sum() * float("nan"), torch.optim.SGD(model.parameters(), lr=0.1),
                 epochs=2, progress=False)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="'device' parameter must be 'auto', 'cpu' or 'cuda'. Got 'gpu'"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            resolve_device("cuda")
