"""GAN networks: shapes for vectors and images, packing, spectral norm, weight clipping."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pushforward.errors import UserError
from pushforward.models.gan.networks import (
    add_spectral_norm,
    clip_weights_,
    make_critic,
    make_generator,
    pack_events,
    packed_shape,
)


@pytest.mark.parametrize("event_shape", [(2,), (3, 4, 4)])
def test_generator_and_critic_shapes(event_shape):
    generator = make_generator("mlp", 5, event_shape, 16, 2, "relu")
    critic = make_critic("mlp", event_shape, 16, 2, "relu")
    x = generator(torch.randn(7, 5))
    assert x.shape == (7, *event_shape)
    assert critic(x).shape == (7,)


def test_pack_events_puts_consecutive_events_side_by_side():
    x = torch.arange(14.0).reshape(7, 2)
    packed = pack_events(x, 3)
    # the 7th event is dropped; row 0 holds events 0, 1, 2
    torch.testing.assert_close(packed, torch.tensor([[0.0, 1, 2, 3, 4, 5], [6.0, 7, 8, 9, 10, 11]]))
    images = torch.randn(4, 3, 2, 2)
    packed_images = pack_events(images, 2)
    assert packed_images.shape == (2, *packed_shape((3, 2, 2), 2))
    torch.testing.assert_close(packed_images[1, 3:], images[3])
    assert pack_events(x, 1) is x
    with pytest.raises(UserError):
        pack_events(x[:2], 3)


def test_spectral_norm_makes_each_layer_1_lipschitz():
    torch.manual_seed(0)
    critic = add_spectral_norm(make_critic("mlp", (2,), 32, 2, "relu"))
    critic.train()
    for _ in range(30):  # power iterations run on training forward passes
        critic(torch.randn(8, 2))
    linears = [m for m in critic.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3
    for layer in linears:
        sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
        assert float(sigma) == pytest.approx(1.0, abs=0.02)


def test_clipping_keeps_every_weight_in_range():
    torch.manual_seed(0)
    critic = make_critic("mlp", (2,), 16, 2, "relu")
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(10)
    assert max(float(p.detach().abs().max()) for p in critic.parameters()) > 0.05
    inside = {n: p.detach().clone() for n, p in critic.named_parameters()}
    clip_weights_(critic, 0.05)
    bound = torch.tensor(0.05)  # the float32 nearest to 0.05, as the weights hold it
    for name, p in critic.named_parameters():
        assert bool((p.abs() <= bound).all())
        # values already inside the range are untouched
        keep = inside[name].abs() <= 0.05
        torch.testing.assert_close(p[keep], inside[name][keep])


def test_unknown_architecture_is_a_user_error():
    with pytest.raises(UserError):
        make_generator("transformer", 2, (2,), 8, 1, "relu")


def test_fourier_critic_scores_packed_events_and_keeps_its_frequencies_fixed():
    torch.manual_seed(0)
    critic = make_critic("mlp", packed_shape((2,), 2), 16, 2, "relu", fourier=8, fourier_scale=3.0)
    x = torch.randn(6, 4)
    assert critic(x).shape == (6,)
    frequencies = critic.state_dict()["features.projection"]
    assert frequencies.shape == (8, 4)
    assert all(p.data_ptr() != frequencies.data_ptr() for p in critic.parameters())  # not trained
    # the first layer reads the raw event and the 2 × 8 features
    first = next(m for m in critic.modules() if isinstance(m, nn.Linear))
    assert first.in_features == 4 + 16
